"""headforge: one portrait photo in, a textured, animatable 3D head avatar out.

    avatar = headforge.reconstruct("photo.jpg")
    avatar.save_zip("avatar.zip")
"""
__version__ = "0.1.0"

from headforge.errors import HeadforgeError  # noqa: E402


def reconstruct(image, **options):
    """See :func:`headforge.pipeline.reconstruct` (imported lazily: it loads the models)."""
    from headforge.pipeline import reconstruct as _reconstruct

    return _reconstruct(image, **options)


__all__ = ["reconstruct", "HeadforgeError", "__version__"]
