"""What the chapters show, computed from records: tables, statistics, sentences, cited outside numbers."""
from ...records.store import (
    pairs_from_scores as as_pairs,  # the pairs of rows of a scores file
)
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
from .compare import mean_difference, mean_sd
from .literature import LFW_VIEW2_VERIFIED, PEERS_DEVTEST, REFERENCE_REPORTED
from .plans import (
    ENV_TRAIN_MISSING,
    plan_progress,
    plan_records,
    plan_times,
    total_record_hours,
    train_missing_default,
)
from .search import describe_overrides, search_sentence, search_table
from .sentences import ablation_sentence, ablation_verdicts, view2_sentence
from .stats import (
    best_epochs,
    chosen_value,
    early_stop_epoch,
    error_overlap,
    paired_accuracy_se,
)
from .tables import (
    EPOCH_METRICS,
    METRIC_COLUMNS,
    SWEEP_METRICS,
    ablation_table,
    bench_table,
    choice_summary,
    config_diff,
    config_value,
    epochs_summary,
    epochs_table,
    model_ablation,
    oneshot_table,
    pairs_summary,
    peers_table,
    people_summary,
    run_table,
    split_comparison,
    stopping_table,
    sweep_table,
    top_pairs,
    view2_comparison,
    view2_table,
)

__all__ = ['describe_overrides', 'search_sentence', 'search_table', 'as_pairs', 'TEST_ACC', 'TEST_ACC_05', 'TEST_AUC', 'TEST_EER', 'VAL_ACC', 'VAL_AUC', 'EPOCHS', 'FIT_S', 'REFERENCE_REPORTED', 'PEERS_DEVTEST', 'LFW_VIEW2_VERIFIED', 'early_stop_epoch', 'chosen_value', 'paired_accuracy_se', 'error_overlap', 'best_epochs', 'pairs_summary', 'people_summary', 'split_comparison', 'METRIC_COLUMNS', 'run_table', 'top_pairs', 'stopping_table', 'epochs_table', 'EPOCH_METRICS', 'epochs_summary', 'choice_summary', 'bench_table', 'config_diff', 'oneshot_table', 'view2_table', 'config_value', 'SWEEP_METRICS', 'sweep_table', 'ablation_table', 'model_ablation', 'view2_comparison', 'peers_table', 'mean_sd', 'mean_difference', 'ablation_verdicts', 'ablation_sentence', 'view2_sentence', 'ENV_TRAIN_MISSING', 'train_missing_default', 'plan_records', 'plan_progress', 'plan_times', 'total_record_hours']
