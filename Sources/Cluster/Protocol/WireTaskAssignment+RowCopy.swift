extension WireTaskAssignment {
    /// Whether the worker keeps this attempt's streamed rows, once it is done, as a copy of
    /// the spill of extract attempt `spillAttemptID`: a cross-validation fold task (train or
    /// evaluate) is streamed every row of its partition, dealt into folds as the extract
    /// dealt them, so later fold tasks of the partition can read them on this worker too.
    var keepsStreamedRowsAsCopy: Bool {
        source == .streamed && spillAttemptID != 0 && TaskKind(wire: kind)?.readsPartitionRows == true && hasVariant
            && TaskVariant(wire: variant)?.fold != nil
    }
}
