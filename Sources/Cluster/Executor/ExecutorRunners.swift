import Forest
import Foundation
import Locking
import SpaceTime

/// Extract: parses the streamed records with the Forest data set path's
/// `PartitionLoader` (counting training rows into a `PartialExtractorState`, keeping the
/// rows in the spill directory); the serialized state is the checkpoint, and the rows
/// stay for the partition's train and evaluate tasks. In a cross-validation job the rows
/// are dealt into their folds (``FoldedPartition``) and the checkpoint is the per-fold
/// ``FoldStatistics``. Needs no blob and never runs.
struct ExtractRunner: TaskRunner {
    let context: ExecutorContext

    func makeAttempt(_ a: TaskAssignment, _ configuration: AttemptConfiguration) throws(TaskFailure) -> ExecutorAttempt {
        if configuration.parameters.folds > 0 {
            return ExecutorAttempt(a, configuration, folded: try context.foldedPartition(configuration.parameters))
        }
        let loader = try context.partitionLoader(configuration.parameters)
        return ExecutorAttempt(a, configuration, loader: loader, rows: loader.rows)
    }

    func parse(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        attempt.folded != nil
            ? context.parseFoldRows(attempt, batch, payload) : context.parsePartitionRows(attempt, batch, payload) { _ in true }
    }

    func rowsComplete(_ attempt: ExecutorAttempt) -> [WorkerEvent]? {
        let a = attempt.assignment
        if let folded = attempt.folded {
            let total = folded.rowCounts.reduce(0, +)
            var s = WireCheckpoint.ExtractStats()
            s.rows = UInt64(total)
            s.trainRows = UInt64(total)
            context.registry.keepSpill(of: attempt, .folds(folded))
            context.logger(for: a).info(
                "extract/p\(a.partition) attempt \(a.attemptID): \(total) rows parsed into \(folded.folds) folds (\(folded.rowCounts.map(String.init).joined(separator: ", "))) and kept in \(context.spillDirectory.path)"
            )
            return [
                .checkpointStats(attemptID: a.attemptID, stats: s, blob: Data(folded.statistics.serialize())),
                .done(
                    attemptID: a.attemptID, rows: s.rows, peakRSS: context.taskPeak(attempt), result: nil,
                    elapsed: context.seconds(since: attempt.started))
            ]
        }
        guard let loader = attempt.loader, let rows = attempt.rows else { return nil }
        var s = WireCheckpoint.ExtractStats()
        s.rows = UInt64(rows.trainCount + rows.testCount)
        s.trainRows = UInt64(rows.trainCount)
        s.testRows = UInt64(rows.testCount)
        context.registry.keepSpill(of: attempt, .rows(rows))
        context.logger(for: a).info(
            "extract/p\(a.partition) attempt \(a.attemptID): \(s.trainRows) train + \(s.testRows) test rows parsed and kept in \(context.spillDirectory.path)"
        )
        return [
            .checkpointStats(attemptID: a.attemptID, stats: s, blob: Data(loader.extractorState.serialize())),
            .done(
                attemptID: a.attemptID, rows: s.rows, peakRSS: context.taskPeak(attempt), result: nil,
                elapsed: context.seconds(since: attempt.started))
        ]
    }

    func run(_ attempt: ExecutorAttempt, _ blob: BlobCache.Blob) -> WorkerEvent {
        context.fail(attempt.assignment, .internal, "extract attempts do not run on a blob", retryable: false)
    }
}

extension ExecutorContext {
    /// A train or evaluate attempt: its partition's rows from this worker's spill, or parsed as they are streamed.
    func partitionAttempt(_ a: TaskAssignment, _ configuration: AttemptConfiguration) throws(TaskFailure) -> ExecutorAttempt {
        guard a.source == .localSpill else {
            // Streamed fold rows are dealt into their folds as the extract did, so the rows
            // binned (in fold order) are the same as from the spill.
            if a.variant.fold != nil {
                return ExecutorAttempt(a, configuration, folded: try foldedPartition(configuration.parameters))
            }
            let loader = try partitionLoader(configuration.parameters)
            return ExecutorAttempt(a, configuration, loader: loader, rows: loader.rows)
        }
        switch registry.spill(a.spillAttemptID) {
        case .rows(let rows)?:
            return ExecutorAttempt(a, configuration, rows: rows, rowsComplete: true)
        case .folds(let folded)?:
            return ExecutorAttempt(a, configuration, folded: folded, rowsComplete: true)
        case nil:
            throw TaskFailure(
                .spillMissing, "the spill of partition \(a.partition) (extract attempt \(a.spillAttemptID)) is not on this worker",
                retryable: true)
        }
    }

    /// A fold evaluate task's out-of-fold predictions of `lines` (`scores`: `width` values a
    /// row), refused when they would not fit in one `done` message.
    func outOfFold(
        _ a: TaskAssignment, width: Int, lines: [UInt64], fold: Int, _ scores: [Double]
    ) throws -> OutOfFoldPredictions {
        guard scores.count == lines.count * width else {
            throw PipelineError(
                .badInput, "\(a.taskName): \(scores.count) predictions for \(lines.count) held-out rows of \(width) values each")
        }
        let bytes = lines.count * (12 + 8 * width) + 64
        let limit = ProtocolLimits().maxPayloadBytes
        guard bytes <= limit else {
            throw TaskFailure(
                .badInput,
                "\(a.taskName): the out-of-fold predictions of its \(lines.count) rows (\(ByteCount(UInt64(bytes)))) exceed one message's \(ByteCount(UInt64(limit))): give more --partitions",
                retryable: false)
        }
        var p = OutOfFoldPredictions(width: width)
        p.append(lines: lines, fold: fold, predictions: scores)
        return p
    }

    /// Removes a train or evaluate attempt that succeeded. A fold task's streamed rows are
    /// kept as a copy of its partition's spill (`keepsStreamedRowsAsCopy`) for the
    /// partition's later fold tasks on this worker.
    func finishPartitionAttempt(_ attempt: ExecutorAttempt) {
        if attempt.assignment.keepsStreamedRowsAsCopy, let folded = attempt.folded {
            registry.keepCopy(folded, of: attempt.assignment.spillAttemptID)
        }
        registry.remove(attempt.id)
    }

    /// A train or evaluate attempt's rows, binned with `extractor`: the training rows (train)
    /// or test rows (evaluate); in a cross-validation job the rows of the folds other than the
    /// one held out (train) or of the held-out fold (evaluate).
    func binnedRows(_ attempt: ExecutorAttempt, extractor: FeatureExtractor) throws -> BinnedPartition {
        let test = attempt.assignment.kind == .evaluate
        guard let folded = attempt.folded else { return try bin(attempt, extractor: extractor, test: test) }
        guard let k = attempt.heldOutFold, k < folded.folds else {
            throw PipelineError(.protocol, "\(attempt.assignment.taskName): the task names no fold of the partition's \(folded.folds)")
        }
        let source = attempt.parameters.source
        return test
            ? try folded.heldOutRows(k, extractor: extractor, threads: options.threads, source: source)
            : try folded.trainingRows(heldOut: k, extractor: extractor, threads: options.threads, source: source)
    }
}

/// Train: bins the partition's training rows with the merged extractor and grows trees
/// `first..<end` with `ForestTrainer.trainTrees`, posting them as checkpoints in batches
/// of `checkpoint_every` as they finish.
struct TrainRunner: TaskRunner {
    let context: ExecutorContext

    private struct Cancelled: Error {}

    func makeAttempt(_ a: TaskAssignment, _ configuration: AttemptConfiguration) throws(TaskFailure) -> ExecutorAttempt {
        try context.partitionAttempt(a, configuration)
    }

    func expectedRows(_ end: WireRowsEnd, _ attempt: ExecutorAttempt) -> UInt64 {
        attempt.heldOutFold == nil ? end.trainRows : end.rows
    }

    func parse(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        attempt.heldOutFold != nil
            ? context.parseFoldRows(attempt, batch, payload) : context.parsePartitionRows(attempt, batch, payload) { isTest in !isTest }
    }

    /// The forest parameters a train task grows trees `range` with, and the index of the
    /// first tree of its (point, fold) block (0 in a training job): its trees grow from the
    /// seeds of `range` minus that offset.
    static func forestAndSeedOffset(_ attempt: ExecutorAttempt, range: Range<Int>) throws -> (ForestParameters, Int) {
        guard let k = attempt.heldOutFold else { return (attempt.parameters.forest, 0) }
        let a = attempt.assignment
        let g = attempt.gridPoint ?? 0
        let points = try attempt.parameters.pointParameters()
        guard points.indices.contains(g) else {
            throw PipelineError(.badParameters, "grid point \(g + 1) of a grid of \(points.count)")
        }
        let layout = try attempt.parameters.foldLayout(partition: a.partition, treesInPartition: a.treesInPartition)
        let block = layout.trees(ofFold: k, point: g)
        guard block.contains(range.lowerBound), range.upperBound <= block.upperBound else {
            throw PipelineError(.badParameters, "trees \(range) are not in fold \(k + 1)'s block \(block) of point \(g + 1)")
        }
        return (points[g], block.lowerBound)
    }

    func run(_ attempt: ExecutorAttempt, _ blob: BlobCache.Blob) -> WorkerEvent {
        let a = attempt.assignment
        guard case .extractor(let extractor) = blob else {
            return context.fail(a, .protocol, "train/p\(a.partition): the blob is not an extractor", retryable: false)
        }
        let range = a.trees
        let options = context.options
        do {
            // A (point, fold) block's trees grow from the seeds of trees 0 ..< s, as in one
            // process: its forest does not depend on where its trees are stored, nor on the
            // tree ranges its task was cut in.
            let (parameters, seedOffset) = try Self.forestAndSeedOffset(attempt, range: range)
            let binned = try context.binnedRows(attempt, extractor: extractor)
            let trainer = ForestTrainer(parameters: parameters, threads: options.threads)
            let id = a.attemptID
            context.logger(for: a).info(
                "train/p\(a.partition) attempt \(id): \(binned.rowCount) rows binned, growing trees \(range.lowerBound)..<\(range.upperBound)"
            )
            // Trees go out in batches of `checkpoint_every` (the last batch may be shorter).
            let batch = Locked(TreeCheckpointBatch(every: a.checkpointEvery, first: range.lowerBound))
            let ballast = [UInt8](repeating: 1, count: options.trainBallastBytes)
            defer { withExtendedLifetime(ballast) {} }
            let seeds = (range.lowerBound - seedOffset)..<(range.upperBound - seedOffset)
            try trainer.trainTrees(partition: binned, partitionIndex: a.partition, range: seeds) { seedIndex, tree in
                let index = seedIndex + seedOffset
                if context.registry.isCancelled(attempt) { throw Cancelled() }
                if options.treeDelay > 0 { Thread.sleep(forTimeInterval: options.treeDelay) }
                if let full = batch.withLock({ $0.add(Data(tree.serialize()), index: index) }) {
                    context.post(.checkpointTrees(attemptID: id, firstTree: full.first, trees: full.trees))
                }
                context.post(.progress(attemptID: id, done: UInt64(index + 1 - range.lowerBound), total: UInt64(range.count)))
            }
            if let rest = batch.withLock({ $0.flush() }) {
                context.post(.checkpointTrees(attemptID: id, firstTree: rest.first, trees: rest.trees))
            }
            context.finishPartitionAttempt(attempt)
            return .done(
                attemptID: id, rows: UInt64(binned.rowCount), peakRSS: context.taskPeak(attempt), result: nil,
                elapsed: context.seconds(since: attempt.started))
        } catch is Cancelled {
            return context.fail(a, .cancelled, "cancelled", retryable: true)
        } catch {
            return context.runFailure(error, a, step: "train")
        }
    }
}

/// Evaluate: scores the partition's test rows with the merged model and returns a
/// serialized `EvaluationMetrics`, followed by the rows' `PermutationImportance` when the
/// job asks for it (``EvaluationResult``).
struct EvaluateRunner: TaskRunner {
    let context: ExecutorContext

    func makeAttempt(_ a: TaskAssignment, _ configuration: AttemptConfiguration) throws(TaskFailure) -> ExecutorAttempt {
        try context.partitionAttempt(a, configuration)
    }

    func expectedRows(_ end: WireRowsEnd, _ attempt: ExecutorAttempt) -> UInt64 {
        attempt.heldOutFold == nil ? end.testRows : end.rows
    }

    func parse(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        attempt.heldOutFold != nil
            ? context.parseFoldRows(attempt, batch, payload) : context.parsePartitionRows(attempt, batch, payload) { isTest in isTest }
    }

    func run(_ attempt: ExecutorAttempt, _ blob: BlobCache.Blob) -> WorkerEvent {
        let a = attempt.assignment
        if context.options.evaluateDelay > 0 { Thread.sleep(forTimeInterval: context.options.evaluateDelay) }
        if case .slice(let slice) = blob { return runSlice(attempt, slice) }
        guard case .model(let model) = blob else {
            return context.fail(a, .protocol, "evaluate/p\(a.partition): the blob is not a model", retryable: false)
        }
        do {
            let binned = try context.binnedRows(attempt, extractor: model.extractor)
            var aggregate = EvaluationMetrics(task: model.extractor.task)
            var outOfFold: OutOfFoldPredictions?
            if binned.rowCount > 0 {
                let scores = model.forest.predict(binned: binned, threads: context.options.threads)
                aggregate.add(predictions: scores, target: binned.target)
                if attempt.parameters.keepPredictions, let k = attempt.heldOutFold, let lines = attempt.folded?.heldOutLines(k) {
                    outOfFold = try context.outOfFold(a, width: max(1, model.extractor.classes.count), lines: lines, fold: k, scores)
                }
            }
            let repeats = attempt.parameters.permutationRepeats
            let permutation =
                repeats > 0
                ? PermutationImportance.compute(
                    forest: model.forest, partition: binned, seed: model.parameters.seed,
                    partitionIndex: a.partition, repeats: repeats, threads: context.options.threads)
                : nil
            context.finishPartitionAttempt(attempt)
            return .done(
                attemptID: a.attemptID, rows: UInt64(binned.rowCount), peakRSS: context.taskPeak(attempt),
                result: Data(EvaluationResult.encode(aggregate, permutation: permutation, predictions: outOfFold)),
                elapsed: context.seconds(since: attempt.started)
            )
        } catch {
            return context.runFailure(error, a, step: "evaluate")
        }
    }

    /// Tree-sharded evaluation: the test rows' partial sums of one slice, and their targets
    /// (``SliceScores``); the coordinator combines the slices and computes the metrics.
    private func runSlice(_ attempt: ExecutorAttempt, _ slice: ForestModelSlice) -> WorkerEvent {
        let a = attempt.assignment
        guard attempt.parameters.permutationRepeats == 0 else {
            return context.fail(
                a, .protocol, "evaluate/p\(a.partition): permutation importance needs the whole model, not a tree slice", retryable: false)
        }
        do {
            let binned = try context.bin(attempt, extractor: slice.model.extractor, test: true)
            let sums = slice.slice.partialSums(binned: binned, threads: context.options.threads)
            let scores = SliceScores(pieces: slice.slice.pieces, valuesPerRow: slice.slice.valuesPerRow, sums: sums, target: binned.target)
            context.registry.remove(a.attemptID)
            return .done(
                attemptID: a.attemptID, rows: UInt64(binned.rowCount), peakRSS: context.taskPeak(attempt),
                result: scores.serialize(), elapsed: context.seconds(since: attempt.started))
        } catch {
            return context.runFailure(error, a, step: "evaluate")
        }
    }
}

/// Predict: parses the streamed records' feature columns (as `spacetime predict` does;
/// the label column is not read) into the block, scores it with the model and posts the
/// outputs in batches (sent under the coordinator's credit, before `done`).
struct PredictRunner: TaskRunner {
    let context: ExecutorContext

    func makeAttempt(_ a: TaskAssignment, _ configuration: AttemptConfiguration) throws(TaskFailure) -> ExecutorAttempt {
        guard a.source == .streamed, let p = configuration.prediction else {
            throw TaskFailure(.protocol, "predict tasks take streamed rows", retryable: false)
        }
        var derivation: (any FeatureDerivation)?
        if !p.derivation.isEmpty {
            do { derivation = try context.options.derivations.derivation(p.derivation, inputNames: p.schema.featureNames) } catch {
                throw TaskFailure(.internal, "this worker cannot run the job: \(error.message)", retryable: false)
            }
        }
        let block = PredictionBlock(p, derivation: derivation)
        // expected_rows comes from the peer: reserve at most 32 MiB up front, grow past that as rows arrive.
        let rows = Int(clamping: min(a.expectedRows, 1 << 22))
        block.values.reserveCapacity(min(rows * block.featureCount, 1 << 22))
        block.lines.reserveCapacity(rows)
        return ExecutorAttempt(a, configuration, prediction: block)
    }

    func parse(_ attempt: ExecutorAttempt, _ batch: WireRowBatch, _ payload: Data) -> WorkerEvent? {
        guard let block = attempt.prediction else { return nil }
        let parser = RecordParser(schema: block.parameters.schema)
        let (accepted, failure) = context.forEachRecord(attempt, batch, payload) { bytes, line, _ in
            try attempt.record.parse(raw: bytes, line: Int(line))
            try block.features.withUnsafeMutableBufferPointer { try parser.parseFeatures(attempt.record, into: $0) }
            if let derivation = block.derivation {
                block.features.withUnsafeBufferPointer { input in
                    block.derived.withUnsafeMutableBufferPointer { derivation.derive(input, into: $0) }
                }
                block.values.append(contentsOf: block.derived)
            } else {
                block.values.append(contentsOf: block.features)
            }
            if block.readsLabels {
                if parser.schema.task == .regression {
                    block.targets.append(try parser.value(attempt.record))
                } else {
                    block.labels.append(try parser.label(attempt.record))
                }
            }
            block.lines.append(line)
            return true
        }
        context.registry.addReceived(attempt, accepted)
        return failure
    }

    func run(_ attempt: ExecutorAttempt, _ blob: BlobCache.Blob) -> WorkerEvent {
        let a = attempt.assignment
        // A whole model posts each row's predictions; a tree slice (tree-sharded scoring) its partial sums.
        let model: ForestModel
        let slice: ForestModelSlice?
        switch (blob, attempt.prediction?.parameters.output) {
        case (.extractor(let e), .transformRows?): return transformRows(attempt, e)
        case (.model(let m), .predictions?): (model, slice) = (m, nil)
        case (.slice(let s), .predictions?): (model, slice) = (s.model, s)
        default:
            return context.fail(a, .protocol, "\(a.taskName): the blob is not what the task's output needs", retryable: false)
        }
        guard let block = attempt.prediction, model.extractor.featureCount == block.featureCount else {
            return context.fail(
                a, .protocol, "\(a.taskName): the model's features do not match the assignment's columns", retryable: false)
        }
        let rows = block.lines.count
        let C = slice?.slice.valuesPerRow ?? model.forest.outputWidth
        let probabilities =
            slice.map { BatchScorer.partialSums($0, values: block.values, rows: rows, threads: context.options.threads) }
            ?? BatchScorer.predict(model, values: block.values, rows: rows, threads: context.options.threads)
        block.values = []
        var start = 0
        while start < rows {
            if context.registry.isCancelled(attempt) { return context.fail(a, .cancelled, "cancelled", retryable: true) }
            let n = min(BlockScoring.batchRows, rows - start)
            context.post(
                .predictions(
                    attemptID: a.attemptID, firstLine: block.lines[start], rows: UInt32(n), bytesPerRow: UInt32(8 * C),
                    payload: BlockScoring.encode(probabilities, from: start * C, count: n * C)))
            start += n
            context.post(.progress(attemptID: a.attemptID, done: UInt64(start), total: UInt64(rows)))
        }
        context.registry.remove(a.attemptID)
        return .done(
            attemptID: a.attemptID, rows: UInt64(rows), peakRSS: context.taskPeak(attempt), result: nil,
            elapsed: context.seconds(since: attempt.started))
    }

    /// Transform rows (`transform --workers`): posts each row's ``TransformRows`` values (its
    /// line, its label's class index or target, its parsed features) for the coordinator's
    /// shard writer; a label the extractor was not fitted with fails the attempt, located.
    private func transformRows(_ attempt: ExecutorAttempt, _ extractor: FeatureExtractor) -> WorkerEvent {
        let a = attempt.assignment
        guard let block = attempt.prediction, extractor.featureCount == block.featureCount else {
            return context.fail(
                a, .protocol, "\(a.taskName): the extractor's features do not match the assignment's columns", retryable: false)
        }
        let rows = block.lines.count
        let transform = DatasetTransform(schema: block.parameters.schema, extractor: extractor)
        let lookup = extractor.classLookup()
        var classes: [Double] = []
        if block.readsLabels && extractor.task.kind == .classification {
            classes.reserveCapacity(rows)
            for (r, text) in block.labels.enumerated() {
                do {
                    classes.append(
                        Double(try transform.classIndex(text, lookup: lookup, path: block.parameters.source, line: Int(block.lines[r]))))
                } catch {
                    return context.fail(a, TaskFailure(error).located(file: block.parameters.source, line: Int(clamping: block.lines[r])))
                }
            }
        }
        let width = TransformRows.width(features: block.featureCount)
        var start = 0
        while start < rows {
            if context.registry.isCancelled(attempt) { return context.fail(a, .cancelled, "cancelled", retryable: true) }
            let n = min(BlockScoring.batchRows, rows - start)
            let payload = TransformRows.encode(
                rows: start..<(start + n), lines: block.lines, values: block.values,
                labels: block.readsLabels ? (classes.isEmpty ? block.targets : classes) : nil,
                features: block.featureCount)
            context.post(
                .predictions(
                    attemptID: a.attemptID, firstLine: block.lines[start], rows: UInt32(n),
                    bytesPerRow: UInt32(8 * width), payload: payload))
            start += n
            context.post(.progress(attemptID: a.attemptID, done: UInt64(start), total: UInt64(rows)))
        }
        block.values = []
        context.registry.remove(a.attemptID)
        return .done(
            attemptID: a.attemptID, rows: UInt64(rows), peakRSS: context.taskPeak(attempt), result: nil,
            elapsed: context.seconds(since: attempt.started))
    }
}
