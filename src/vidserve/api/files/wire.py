"""The wire of OpenAI's Files API: file objects, lists, deletions and the upload body."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainValidator, WithJsonSchema

from vidserve import contract
from vidserve.api.bodies import FilePart
from vidserve.api.validation import BINARY, WireModel, decimal, in_range, upload
from vidserve.store.files import StoredFile


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool


def file_object(file: StoredFile) -> FileObject:
    return FileObject(
        id=file.id,
        bytes=file.bytes,
        created_at=file.created_at,
        expires_at=file.expires_at,
        filename=file.filename,
        purpose=file.purpose,
    )


class ExpiresAfter(WireModel):
    anchor: Literal["created_at"]
    seconds: Annotated[
        int,
        BeforeValidator(decimal),
        AfterValidator(
            in_range(
                "expires_after.seconds", contract.MIN_FILE_EXPIRY, contract.MAX_FILE_EXPIRY
            )
        ),
        WithJsonSchema(
            {
                "type": "integer",
                "minimum": contract.MIN_FILE_EXPIRY,
                "maximum": contract.MAX_FILE_EXPIRY,
            }
        ),
    ]


class CreateFileBody(WireModel):
    """``POST /v1/files`` (multipart)."""

    # an empty file is refused ("The file is empty.")
    file: Annotated[
        FilePart, PlainValidator(upload("file")), WithJsonSchema({**BINARY, "minLength": 1})
    ]
    purpose: contract.FilePurpose
    expires_after: ExpiresAfter | None = None
