"""Test helpers shipped with artface (as tfds.testing): real local servers, fixture images."""
