"""What every sidebar panel shares: the 3D viewport's sidebar (N panel), tab "Synth"."""


class SynthPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Synth"


def randomise_row(layout, operator: str, group, seed_name: str) -> None:
    """A Randomise button with the seed of its next draw beside it."""
    row = layout.row(align=True)
    row.operator(operator, icon="FILE_REFRESH")
    row.prop(group, seed_name, text="")
