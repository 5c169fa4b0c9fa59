"""Data: sources (CIFAR archives, image folders, tars), decoding + cache, loaders, transforms.

``open_source(spec)`` detects the format; ``make_loaders(source, LoaderSpec(...))`` gives
the train / test / validation loaders, device-resident for small images and streaming for
large ones.
See ``docs/data.md`` for the formats accepted, the data root and the cache.
"""

from reslab.data.cache import data_root
from reslab.data.decode import BadImage, decode, read_image
from reslab.data.imageset import ImageSet
from reslab.data.loaders import DeviceLoader, Loaders, LoaderSpec, StreamingLoader, make_loaders
from reslab.data.normalization import Normalization
from reslab.data.sources import DataWarning, Source, open_source

__all__ = [
    "BadImage",
    "DataWarning",
    "DeviceLoader",
    "ImageSet",
    "LoaderSpec",
    "Loaders",
    "Normalization",
    "Source",
    "StreamingLoader",
    "data_root",
    "decode",
    "make_loaders",
    "open_source",
    "read_image",
]
