"""Errors users can act on. Each has a stable ``code`` (used by the CLI and the HTTP API)
and a one-line human message; no error carries image bytes."""


class HeadforgeError(Exception):
    """Base class: ``code`` is stable, ``str(error)`` is a one-line message."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message.replace("\n", " ").strip())


class BadImageError(HeadforgeError):
    """The file is not a readable image (empty, corrupt, truncated, not an image)."""

    code = "bad_image"


class UnsupportedFormatError(HeadforgeError):
    """The file is a known non-photo format (SVG, PDF, zip, ...) or a format we do not read."""

    code = "unsupported_format"


class ImageTooLargeError(HeadforgeError):
    """The image is over the byte or pixel limit (decompression-bomb guard)."""

    code = "image_too_large"


class ImageTooSmallError(HeadforgeError):
    """The image is too small to hold a usable face."""

    code = "image_too_small"


class NoFaceError(HeadforgeError):
    """No face was found in the photo."""

    code = "no_face"


class SeveralFacesError(HeadforgeError):
    """Several faces were found where one portrait was asked for."""

    code = "several_faces"


class FaceTooSmallError(HeadforgeError):
    """A face was found but it is too small to reconstruct."""

    code = "face_too_small"


class ModelError(HeadforgeError):
    """A head model or weight file is missing or invalid."""

    code = "model_error"


class EmotionError(HeadforgeError):
    """An emotion name is unknown or its intensity is not a number in [0, 1]."""

    code = "bad_emotion"


class UnknownHairstyleError(HeadforgeError):
    """No hairstyle of that name is in the hairstyle database."""

    code = "unknown_hairstyle"


class HairFileError(HeadforgeError):
    """A strand hair file (USC ``.data``, Cem Yuksel ``.hair``) is malformed or truncated."""

    code = "bad_hair_file"


class HairstyleNameError(HeadforgeError):
    """A new hairstyle's name is not 1-64 lower-case letters, digits, ``_`` or ``-``."""

    code = "bad_hairstyle_name"


class BodyShapeError(HeadforgeError):
    """A body phenotype is unknown or out of [0, 1]."""

    code = "bad_body_shape"
