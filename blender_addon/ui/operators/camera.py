"""The Camera panel's operators."""

classes = ()
