"""Decode the view's Foxglove protobuf messages from their schema (a FileDescriptorSet), as a viewer does:
for reading an MCAP the view wrote (docs/make_live_view_picture.py, the tests)."""

from __future__ import annotations

from functools import lru_cache

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.json_format import MessageToDict


@lru_cache(maxsize=None)
def message_class(schema_name: str, schema_data: bytes):
    files = descriptor_pb2.FileDescriptorSet.FromString(schema_data)
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(schema_name))


def decode(schema_name: str, schema_data: bytes, payload: bytes) -> dict:
    """The message as a dict (protobuf's JSON mapping: camelCase fields, bytes as base64)."""
    message = message_class(schema_name, bytes(schema_data))()
    message.ParseFromString(bytes(payload))
    return MessageToDict(message, preserving_proto_field_name=True)


def decode_foxglove(message) -> dict:
    """A foxglove.messages object, round-tripped through its own schema."""
    schema = type(message).get_schema()
    return decode(schema.name, schema.data, message.encode())
