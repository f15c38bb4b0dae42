"""headforge: one portrait photo in, a textured, animatable 3D head avatar out.

    avatar = headforge.reconstruct("photo.jpg")
    headforge.write_zip(avatar, "avatar.zip")
"""
from headforge.errors import HeadforgeError
from headforge.version import __version__


def reconstruct(image, **options):
    """See :func:`headforge.pipeline.reconstruct` (imported lazily: it loads the models)."""
    from headforge.pipeline import reconstruct as _reconstruct

    return _reconstruct(image, **options)


def write_zip(avatar, path):
    """See :func:`headforge.export.package.write_zip`: the avatar zip, written atomically."""
    from headforge.export.package import write_zip as _write_zip

    return _write_zip(avatar, path)


__all__ = ["reconstruct", "write_zip", "HeadforgeError", "__version__"]
