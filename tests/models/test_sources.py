"""Import sources judged on their text: plain locations only, compared segment by segment."""

from __future__ import annotations

import pytest

from services.models.sources import MAX_URI_LENGTH, Location, parse_location


@pytest.mark.parametrize(
    ("uri", "spelled"),
    [
        ("/data/x.onnx", "file:///data/x.onnx"),
        ("file:///data/x.onnx", "file:///data/x.onnx"),
        ("local:///data//x.onnx", "file:///data/x.onnx"),
        ("memory://bucket/x", "memory:///bucket/x"),
        ("memory:///bucket/x", "memory:///bucket/x"),
        ("s3://bucket/incoming/x.onnx", "s3://bucket/incoming/x.onnx"),
        ("gs://bucket/x.onnx/", "gs://bucket/x.onnx"),
    ],
)
def test_a_location_is_spelled_with_its_protocol(uri: str, spelled: str) -> None:
    assert parse_location(uri).uri == spelled


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("zip://a::file:///etc/hostname", "chained URLs"),
        ("simplecache::s3://bucket/x", "chained URLs"),
        ("file:///data/x.onnx\x00", "control characters"),
        ("file:///data/\nx.onnx", "control characters"),
        ("file:///data/../etc/passwd", "relative path segments"),
        ("memory://bucket/./x", "relative path segments"),
        ("incoming/m.onnx", "must be an absolute path or a URL"),
        ("data:text/plain,x", "must be an absolute path or a URL"),
        ("S3://bucket/x", "must be an absolute path or a URL"),
        ("file://data/x.onnx", "local paths must be absolute"),
        ("file://~/x.onnx", "local paths must be absolute"),
        ("s3://", "names no file"),
        ("/" + "x" * MAX_URI_LENGTH, f"at most {MAX_URI_LENGTH} characters"),
    ],
)
def test_what_is_not_a_plain_location_is_refused(uri: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_location(uri)


def test_under_means_whole_segments_of_the_same_scheme() -> None:
    folder = parse_location("s3://bucket/incoming/")
    assert parse_location("s3://bucket/incoming/a/m.onnx").is_under(folder)
    assert not parse_location("s3://bucket/incoming").is_under(folder)
    assert not parse_location("s3://bucket/incoming-other/m.onnx").is_under(folder)
    assert not parse_location("s3a://bucket/incoming/m.onnx").is_under(folder)
    assert not parse_location("gs://bucket/incoming/m.onnx").is_under(folder)
    assert parse_location("/data/in/m.onnx").is_under(Location("file", ("data", "in")))
