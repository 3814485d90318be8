"""The Body panel's operators."""

classes = ()
