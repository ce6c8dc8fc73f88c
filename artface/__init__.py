"""artface: art-face datasets as Hugging Face datasets."""
__version__ = "0.1.0"
