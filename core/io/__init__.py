"""Reading and writing frames: validation and conversion at the edges of the library.

* :mod:`.images` — any array a user passes -> ``uint8`` RGB ``(H, W, 3)``, and back to float tensors;
* :mod:`.video` — image folders and video files, read and written in bounded memory.
"""
