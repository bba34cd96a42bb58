"""FreeSurfer label names (``FreeSurferColorLUT.txt``) of the aparc+aseg labels, for BIDS ``dseg.tsv``.

The numbers are FreeSurfer's (``imaging.band.labels`` names the ones the quantification uses); the
names are those of FreeSurfer 7's colour look-up table: the aseg structures an aparc+aseg volume
holds and the Desikan-Killiany cortical parcels of each hemisphere (``ctx-lh-*`` 1000-1035,
``ctx-rh-*`` 2000-2035).
"""

from __future__ import annotations

from typing import Final

#: aseg structures (subcortical, ventricles, white matter, corpus callosum).
ASEG_NAMES: Final[dict[int, str]] = {
    0: "Unknown",
    1: "Left-Cerebral-Exterior",
    2: "Left-Cerebral-White-Matter",
    3: "Left-Cerebral-Cortex",
    4: "Left-Lateral-Ventricle",
    5: "Left-Inf-Lat-Vent",
    6: "Left-Cerebellum-Exterior",
    7: "Left-Cerebellum-White-Matter",
    8: "Left-Cerebellum-Cortex",
    9: "Left-Thalamus-unused",
    10: "Left-Thalamus",
    11: "Left-Caudate",
    12: "Left-Putamen",
    13: "Left-Pallidum",
    14: "3rd-Ventricle",
    15: "4th-Ventricle",
    16: "Brain-Stem",
    17: "Left-Hippocampus",
    18: "Left-Amygdala",
    19: "Left-Insula",
    20: "Left-Operculum",
    24: "CSF",
    25: "Left-Lesion",
    26: "Left-Accumbens-area",
    27: "Left-Substancia-Nigra",
    28: "Left-VentralDC",
    29: "Left-undetermined",
    30: "Left-vessel",
    31: "Left-choroid-plexus",
    40: "Right-Cerebral-Exterior",
    41: "Right-Cerebral-White-Matter",
    42: "Right-Cerebral-Cortex",
    43: "Right-Lateral-Ventricle",
    44: "Right-Inf-Lat-Vent",
    45: "Right-Cerebellum-Exterior",
    46: "Right-Cerebellum-White-Matter",
    47: "Right-Cerebellum-Cortex",
    48: "Right-Thalamus-unused",
    49: "Right-Thalamus",
    50: "Right-Caudate",
    51: "Right-Putamen",
    52: "Right-Pallidum",
    53: "Right-Hippocampus",
    54: "Right-Amygdala",
    55: "Right-Insula",
    56: "Right-Operculum",
    57: "Right-Lesion",
    58: "Right-Accumbens-area",
    59: "Right-Substancia-Nigra",
    60: "Right-VentralDC",
    61: "Right-undetermined",
    62: "Right-vessel",
    63: "Right-choroid-plexus",
    72: "5th-Ventricle",
    77: "WM-hypointensities",
    78: "Left-WM-hypointensities",
    79: "Right-WM-hypointensities",
    80: "non-WM-hypointensities",
    81: "Left-non-WM-hypointensities",
    82: "Right-non-WM-hypointensities",
    85: "Optic-Chiasm",
    251: "CC_Posterior",
    252: "CC_Mid_Posterior",
    253: "CC_Central",
    254: "CC_Mid_Anterior",
    255: "CC_Anterior",
}
#: Desikan-Killiany parcels, in FreeSurfer's order: parcel ``i`` is label 1000 + i (left
#: hemisphere, ``ctx-lh-``) and 2000 + i (right, ``ctx-rh-``).
APARC_PARCELS: Final[tuple[str, ...]] = (
    "unknown",
    "bankssts",
    "caudalanteriorcingulate",
    "caudalmiddlefrontal",
    "corpuscallosum",
    "cuneus",
    "entorhinal",
    "fusiform",
    "inferiorparietal",
    "inferiortemporal",
    "isthmuscingulate",
    "lateraloccipital",
    "lateralorbitofrontal",
    "lingual",
    "medialorbitofrontal",
    "middletemporal",
    "parahippocampal",
    "paracentral",
    "parsopercularis",
    "parsorbitalis",
    "parstriangularis",
    "pericalcarine",
    "postcentral",
    "posteriorcingulate",
    "precentral",
    "precuneus",
    "rostralanteriorcingulate",
    "rostralmiddlefrontal",
    "superiorfrontal",
    "superiorparietal",
    "superiortemporal",
    "supramarginal",
    "frontalpole",
    "temporalpole",
    "transversetemporal",
    "insula",
)
#: First label of each hemisphere's aparc parcels and the prefix FreeSurfer gives their names.
APARC_OFFSETS: Final[dict[int, str]] = {1000: "ctx-lh-", 2000: "ctx-rh-"}

LABEL_NAMES: Final[dict[int, str]] = {
    **ASEG_NAMES,
    **{
        offset + index: prefix + parcel
        for offset, prefix in APARC_OFFSETS.items()
        for index, parcel in enumerate(APARC_PARCELS)
    },
}


def label_name(index: int) -> str:
    """FreeSurfer's name of an aparc+aseg label; ``label-<index>`` for a number it does not name."""
    return LABEL_NAMES.get(index, f"label-{index}")
