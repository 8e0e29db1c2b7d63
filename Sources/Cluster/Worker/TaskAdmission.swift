import SpaceTime

/// Decides, before a task starts, whether it can run within this worker's
/// memory limit — so a task that cannot fit is refused with a clear message
/// (and retried elsewhere, within the retry bound) instead of being killed
/// by the OOM killer halfway through. Uses the same memory model as
/// `PartitionPlanner`, and counts what the task must hold:
///
/// * train: its binned rows and per-row working set, the histograms of its
///   threads, and the trees in flight (`PartitionPlanner.treesInFlight`: one
///   per thread being grown, plus a checkpoint batch not yet sent) at the
///   coordinator's `expected_tree_bytes` each;
/// * evaluate: the merged model (or the slice it is sent) as it loads
///   (`PartitionPlanner.Model.modelLoadFactor` × its blob size) and the
///   partition's binned test rows;
/// * predict: the model as it loads.
///
/// The refusal names each part, the worker's baseline and the budget.
public enum TaskAdmission {
    public struct Verdict: Sendable, Hashable {
        public var accepted: Bool
        /// Estimated peak bytes the task needs, including the worker's baseline.
        public var neededBytes: UInt64
        /// Why it was refused, for the `failed` message.
        public var message: String?
    }

    public static func check(
        _ a: TaskAssignment, memoryLimit: UInt64, threads: Int,
        model: PartitionPlanner.Model = PartitionPlanner.Model()
    ) -> Verdict {
        let name = a.taskName
        let afterBaseline = memoryLimit > model.baselineBytes ? memoryLimit - model.baselineBytes : 0
        let budget = UInt64(Double(afterBaseline) * model.usableFraction)
        let features = max(1, a.schema.columnCount - 1)
        var parts: [(what: String, bytes: UInt64)] = []
        switch a.kind {
        case .train:
            let rows = a.expectedTrainRows > 0 ? a.expectedTrainRows : a.expectedRows
            // Histogram words per bin: 0 when unknown, then 2 assumed.
            let histograms = PartitionPlanner.histogramBytes(
                features: features, histogramWordsPerBin: max(2, a.histogramWordsPerBin), threads: threads, model: model)
            parts.append(
                (
                    "\(rows) training rows × \(features) features",
                    multiply(rows, PartitionPlanner.bytesPerTrainingRow(features: features, model: model))
                ))
            let copy = PartitionPlanner.rowMajorCopyBytes(rows: rows, features: features)
            if copy > 0 { parts.append(("their bins copied row-major", copy)) }
            parts.append(("histograms for \(threads) \(threads == 1 ? "thread" : "threads")", histograms))
            if a.expectedTreeBytes > 0 {
                let inFlight = PartitionPlanner.treesInFlight(threads: threads, checkpointEvery: a.checkpointEvery)
                parts.append(
                    ("\(inFlight) trees in flight × \(ByteCount(a.expectedTreeBytes))", multiply(UInt64(inFlight), a.expectedTreeBytes)))
            }
        case .evaluate, .predict:
            let modelBytes: UInt64
            switch a.model {
            case .inline(let data)?: modelBytes = UInt64(data.count)
            case .reference(_, let size)?: modelBytes = size
            case nil: modelBytes = 0
            }
            let loading = UInt64((Double(modelBytes) * model.modelLoadFactor).rounded(.up))
            parts.append(("a \(ByteCount(modelBytes)) model × \(model.modelLoadFactor.formatted) while it loads", loading))
            if a.kind == .evaluate, a.expectedTestRows > 0 {
                parts.append(
                    (
                        "\(a.expectedTestRows) test rows × \(features) features",
                        multiply(a.expectedTestRows, PartitionPlanner.bytesPerTrainingRow(features: features, model: model))
                    ))
            }
        default:
            return Verdict(accepted: true, neededBytes: model.baselineBytes, message: nil)  // extraction streams with bounded buffers
        }
        let needed = parts.reduce(UInt64(0)) { sum, part in sum > UInt64.max - part.bytes ? .max : sum + part.bytes }
        let total = needed > UInt64.max - model.baselineBytes ? UInt64.max : needed + model.baselineBytes
        if needed <= budget {
            return Verdict(accepted: true, neededBytes: total, message: nil)
        }
        let detail = parts.map { "\($0.what): \(ByteCount($0.bytes))" }.joined(separator: ", ")
        let remedy =
            a.kind == .train
            ? "use more partitions or a larger --memory-limit"
            : "give the workers a larger --memory-limit (a failed job continues with --resume, its trees kept)"
        return Verdict(
            accepted: false, neededBytes: total,
            message:
                "\(name) needs ~\(ByteCount(total)) (\(detail); baseline \(ByteCount(model.baselineBytes))) but this worker's memory limit is \(ByteCount(memoryLimit)), of which tasks may use \(ByteCount(budget)); \(remedy)"
        )
    }

    private static func multiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : product
    }
}

extension Double {
    /// "3" or "2.5".
    fileprivate var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
