"""What the chapters show, computed from records: tables, statistics, intervals, sentences, cited outside numbers.

Nothing here trains: a record that is missing is reported as missing (`plan_progress`, `missing_records`)."""
from ...records.store import (
    pairs_from_scores as as_pairs,  # the pairs of rows of a scores file
)
from .architecture import parameter_table, reference_choices
from .columns import (
    EPOCHS,
    FIT_S,
    TEST_ACC,
    TEST_ACC_05,
    TEST_AUC,
    TEST_EER,
    VAL_ACC,
    VAL_AUC,
)
from .compare import INTERVAL_ROWS, difference_table, mean_difference, mean_sd
from .comparisons import (
    best_peer,
    devtest_pairs,
    headline_table,
    peers_table,
    protocol_gain,
    protocol_sentence,
    se_interval,
    view2_comparison,
    view2_standing,
)
from .dataset import example_pairs, leakage_reading, leakage_summary
from .gap import ALPHA as GAP_ALPHA
from .gap import (
    GAP_METRIC,
    OURS_SETUP,
    OWN_SETUP,
    gap_groups,
    gap_progress,
    gap_table,
    gap_verdict,
    reported_position,
    seed_values,
)
from .intervals import (
    INTERVAL_NOTE,
    SD_NOTE,
    accuracy_interval,
    combined_interval,
    fold_interval,
    interval_text,
    pair_correct,
    points,
)
from .literature import (
    LFW_RESULTS_KEY,
    LFW_VIEW2_VERIFIED,
    PEER_CITE,
    PEER_KEYS,
    PEERS_DEVTEST,
    REFERENCE_KEY,
    REFERENCE_REPORTED,
    VIEW2_CITE,
)
from .numbers import (
    architecture_numbers,
    count,
    dataset_numbers,
    init_text,
    plan_seeds,
    recipe_numbers,
    render_numbers,
    reported_numbers,
    short,
)
from .plans import (
    missing_records,
    missing_summary,
    plan_progress,
    plan_records,
    plan_times,
    plans_table,
    total_record_hours,
)
from .protocol import category_of, protocol_of
from .scores import pair_titles, score_bands, threshold_gain, threshold_reading
from .recipe import TARGET_ACCURACY, bench_files, recipe_cost_table, step_sentence, targets_sentence
from .search import (
    ABANDONED,
    NOT_TRAINED,
    describe_overrides,
    search_noise,
    search_sentence,
    search_table,
    whitening_reading,
)
from .sentences import ablation_sentence, ablation_verdicts, view2_sentence
from .stats import (
    best_epochs,
    chosen_value,
    early_stop_epoch,
    error_overlap,
    paired_accuracy_se,
    processor_of,
    processors,
)
from .sweeps import (
    SWEEP_COLUMNS,
    choice_reading,
    early_stopped,
    epoch_means,
    epochs_reading,
    full_epochs,
    last_epochs_change,
    processors_by_value,
    sweep_reading,
    time_extremes,
)
from .tables import (
    EPOCH_METRICS,
    METRIC_COLUMNS,
    SWEEP_METRICS,
    ablation_table,
    bench_environment,
    bench_table,
    choice_summary,
    config_diff,
    config_value,
    environment,
    epochs_summary,
    epochs_table,
    model_ablation,
    oneshot_at,
    oneshot_table,
    pairs_summary,
    people_summary,
    run_table,
    split_comparison,
    stopping_table,
    sweep_table,
    top_pairs,
    view2_table,
)
from .training import (
    best_epoch_reading,
    history_pivot,
    init_reading,
    l2_share,
    mean_sd_table,
    or_list,
    precision_groups,
    precision_reading,
    reference_vs_ours,
    split_by_seeds,
    spread_ratios,
    steps_per_epoch,
    stop_epochs,
    timing_table,
    train_pairs,
    validation_kinds,
    validation_sentence,
    weight_moves,
    weights_reading,
)

__all__ = [name for name in dir() if not name.startswith("_")]
