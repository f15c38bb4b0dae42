"""The ground floor: data types and helpers every stage shares, importing nothing above them.

- ``avatar``: :class:`Avatar` and :class:`HeadMesh`, the result of a reconstruction;
- ``camera``: the pinhole :class:`Camera` (OpenCV convention, head frame in metres);
- ``strands``: :class:`Hairstyle`, strands on a head; ``strand_formats``: reading and writing
  strand files (USC, .hair, .data);
- ``geometry``: rotations, unit vectors, barycentric interpolation, closest points on a mesh,
  Umeyama similarities, UV gradients;
- ``files``: atomic, durable file writes;
- ``images``: PNG encoding and decoding, EXIF orientation, JPEG marker segments.
"""
