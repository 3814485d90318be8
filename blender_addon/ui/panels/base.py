"""What every sidebar panel shares: the 3D viewport's sidebar (N panel), tab "Synth"."""


class SynthPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Synth"
