from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ConfirmNewShareRequest(_message.Message):
    __slots__ = ("share",)
    SHARE_FIELD_NUMBER: _ClassVar[int]
    share: str
    def __init__(self, share: _Optional[str] = ...) -> None: ...

class GetSealStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnsealRequest(_message.Message):
    __slots__ = ("share", "reset")
    SHARE_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    share: str
    reset: bool
    def __init__(self, share: _Optional[str] = ..., reset: _Optional[bool] = ...) -> None: ...

class SealRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SealStatus(_message.Message):
    __slots__ = ("sealed", "threshold", "shares", "progress", "root_provider", "new_shares_threshold", "new_shares_confirmed")
    SEALED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ROOT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    NEW_SHARES_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    NEW_SHARES_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    sealed: bool
    threshold: int
    shares: int
    progress: int
    root_provider: str
    new_shares_threshold: int
    new_shares_confirmed: int
    def __init__(self, sealed: _Optional[bool] = ..., threshold: _Optional[int] = ..., shares: _Optional[int] = ..., progress: _Optional[int] = ..., root_provider: _Optional[str] = ..., new_shares_threshold: _Optional[int] = ..., new_shares_confirmed: _Optional[int] = ...) -> None: ...
