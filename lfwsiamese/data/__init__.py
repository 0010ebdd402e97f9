"""LFW-a: where it is, whether it is right, images as arrays, the protocols and honest splits (the lowest layer)."""
from .check import CheckReport, check_data, list_images, manifest
from .images import ImageStore, Preprocess, load_image, load_images, preprocess_image
from .paths import (
    ENV_CACHE,
    ENV_DATA,
    FRAME,
    IMAGE_RE,
    N_IMAGES,
    N_PEOPLE,
    cache_dir,
    images_dir,
    project_root,
    require_data_dir,
    resolve_data_dir,
    splits_dir,
)
from .protocols import (
    ALIASES,
    OFFICIAL_SHA256,
    PAIR_FILES,
    PEOPLE_FILES,
    ImageRef,
    Pair,
    PeopleSet,
    format_pairs,
    format_people,
    image_counts,
    load_pairs,
    load_people,
    packaged_path,
    parse_pairs,
    parse_people,
    read_pairs,
    read_people,
    sha256_file,
    validate_pairs,
)
from .sampling import (
    calibration_pairs,
    epoch_pair_arrays,
    epoch_pairs,
    epoch_positive_batches,
    identity_groups,
    sample_pairs,
    sample_positive_batches,
)
from .splits import (
    RNG_CALIB,
    RNG_EPOCH,
    RNG_NPAIR,
    RNG_PEOPLE,
    RNG_VAL,
    IdentitySplit,
    Split,
    identity_split,
    leakage,
    make_split,
    pair_level_split,
    people_of,
    person_disjoint_split,
    split_people,
    validation_pairs,
)

__all__ = ['N_PEOPLE', 'N_IMAGES', 'FRAME', 'ENV_DATA', 'ENV_CACHE', 'IMAGE_RE', 'project_root', 'resolve_data_dir', 'cache_dir', 'images_dir', 'require_data_dir', 'splits_dir', 'manifest', 'list_images', 'CheckReport', 'check_data', 'Preprocess', 'preprocess_image', 'load_image', 'ImageStore', 'load_images', 'Split', 'person_disjoint_split', 'pair_level_split', 'make_split', 'leakage', 'people_of', 'RNG_PEOPLE', 'RNG_VAL', 'RNG_EPOCH', 'RNG_NPAIR', 'RNG_CALIB', 'IdentitySplit', 'split_people', 'validation_pairs', 'identity_split', 'identity_groups', 'sample_pairs', 'epoch_pairs', 'sample_positive_batches', 'epoch_positive_batches', 'calibration_pairs', 'epoch_pair_arrays', 'OFFICIAL_SHA256', 'ALIASES', 'PAIR_FILES', 'PEOPLE_FILES', 'ImageRef', 'Pair', 'PeopleSet', 'parse_pairs', 'format_pairs', 'parse_people', 'format_people', 'read_pairs', 'read_people', 'packaged_path', 'sha256_file', 'load_pairs', 'load_people', 'image_counts', 'validate_pairs']
