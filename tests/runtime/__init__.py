"""Tests of the shared service runtime (services/runtime)."""
