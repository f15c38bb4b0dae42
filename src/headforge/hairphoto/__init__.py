"""Hair from the photo: the person's own hair as a procedural strand style, read from a
portrait by a small network trained on synthetic renders (see :mod:`headforge.hairphoto.stage`)."""
from headforge.hairphoto.stage import HairJob, PhotoHair, PhotoHairReader

__all__ = ["HairJob", "PhotoHair", "PhotoHairReader"]
