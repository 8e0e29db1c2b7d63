/// Decides, before a task starts, whether it can run within this worker's
/// memory limit — so a task that cannot fit is refused with a clear message
/// (and retried elsewhere, within the retry bound) instead of being killed
/// by the OOM killer halfway through. Uses the same memory model as
/// `PartitionPlanner`.
public enum TaskAdmission {
    public struct Verdict: Sendable, Hashable {
        public var accepted: Bool
        /// Estimated peak bytes the task needs, including the worker's baseline.
        public var neededBytes: UInt64
        /// Why it was refused, for the `failed` message.
        public var message: String?
    }

    public static func check(_ a: WireTaskAssignment, memoryLimit: UInt64, threads: Int,
                             model: PartitionPlanner.Model = PartitionPlanner.Model()) -> Verdict {
        let name = TaskKind(wire: a.kind).map { TaskName($0, Int(a.partition)).description } ?? "task \(a.taskID)"
        let afterBaseline = memoryLimit > model.baselineBytes ? memoryLimit - model.baselineBytes : 0
        let budget = UInt64(Double(afterBaseline) * model.usableFraction)
        let features = max(1, Int(a.schema.columnCount) - 1)
        let needed: UInt64
        let what: String
        switch a.kind {
        case .train:
            let rows = a.expectedTrainRows > 0 ? a.expectedTrainRows : a.expectedRows
            // The wire field `classes` carries the task's histogram words per bin (0: unknown, 2 assumed).
            let histograms = PartitionPlanner.histogramBytes(features: features, histogramWordsPerBin: max(2, Int(a.classes)), threads: threads, model: model)
            let (data, overflow) = rows.multipliedReportingOverflow(by: PartitionPlanner.bytesPerTrainingRow(features: features, model: model))
            needed = overflow ? .max : histograms &+ data
            what = "\(rows) training rows × \(features) features"
        case .evaluate, .predict:
            let modelBytes: UInt64
            switch a.model.value {
            case .inline(let data)?: modelBytes = UInt64(data.count)
            case .ref(let ref)?: modelBytes = ref.size
            case nil: modelBytes = 0
            }
            needed = modelBytes
            what = "a \(ByteCount(modelBytes)) model"
        default:
            return Verdict(accepted: true, neededBytes: model.baselineBytes, message: nil)  // extraction streams with bounded buffers
        }
        let total = needed > UInt64.max - model.baselineBytes ? UInt64.max : needed + model.baselineBytes
        if needed <= budget {
            return Verdict(accepted: true, neededBytes: total, message: nil)
        }
        return Verdict(accepted: false, neededBytes: total,
                       message: "\(name) needs ~\(ByteCount(total)) (\(what)) but this worker's memory limit is \(ByteCount(memoryLimit)); \(a.kind == .train ? "use more partitions or a larger --memory-limit" : "give the workers a larger --memory-limit (a failed job continues with --resume, its trees kept)")")
    }
}
