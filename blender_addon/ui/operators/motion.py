"""The Motion panel's operators."""

classes = ()
