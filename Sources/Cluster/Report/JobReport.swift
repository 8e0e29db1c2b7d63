import Forest
import Foundation

/// Everything the HTML job report shows, assembled from a job store
/// (``load(store:now:options:)``) or a model file (``init(model:modelPath:options:)``).
/// Every figure comes from the aggregates the JSON reports print (the merged evaluation
/// metrics, the stage timings, the attempts' and heartbeats' RSS), so the page's size
/// depends on the number of tasks, workers, classes and bins, never on the rows.
public struct JobReport: Sendable, Encodable {
    public enum State: String, Sendable, Encodable {
        case running, done, failed
    }

    public struct Column: Sendable, Encodable {
        public var name: String
        public var kind: String
        /// Categorical levels kept by the extractor, when known.
        public var levels: Int?
    }

    public struct Summary: Sendable, Encodable {
        /// What the report was made from: "job store DIR" or "model FILE".
        public var source: String
        public var jobID: String?
        public var dataFiles: [String]
        public var trainRows: Int?
        public var testRows: Int?
        public var label: String
        public var task: String
        /// Classes with their training counts, or the training target's range.
        public var taskDetail: String
        public var columns: [Column]
        public var ignoredColumns: [String]
        public var parameters: [KeyValue]
        public var partitions: Int?
        public var trees: Int
        public var treesDone: Int?
        public var fingerprint: String?
        public var wallSeconds: Double?
        public var outcome: String
    }

    public struct KeyValue: Sendable, Encodable, Equatable {
        public var key: String
        public var value: String
    }

    /// A worker's highest RSS during one stage, against its limit.
    public struct StagePeak: Sendable, Encodable {
        public var worker: String
        public var peak: UInt64?
        public var limit: UInt64
    }

    public struct Stage: Sendable, Encodable {
        public var name: String
        /// Seconds from the job's origin.
        public var start: Double
        /// Wall seconds as the JSON report gives them (0 while running).
        public var seconds: Double
        public var finished: Bool
        public var rows: Int?
        public var peaks: [StagePeak]
        public var rowsPerSecond: Double? { rows.flatMap { seconds > 0 ? Double($0) / seconds : nil } }
    }

    public struct Worker: Sendable, Encodable {
        public var id: String
        public var host: String
        public var pid: Int
        public var limit: UInt64
        /// The highest of the heartbeats' peak RSS and the attempts' peak RSS (as `--report-json`).
        public var peakRSS: UInt64
        public var state: String
        /// How its process ended, when this process launched it ("killed by signal 9").
        public var exit: String?
    }

    public struct Attempt: Sendable, Encodable {
        public var id: UInt64
        public var task: String
        public var kind: String
        public var partition: Int
        public var worker: String
        /// Seconds from the job's origin.
        public var start: Double
        public var end: Double?
        /// done, failed, lost, abandoned or running.
        public var outcome: String
        public var reason: String?
        public var peakRSS: UInt64?
        public var firstTree: Int?
        /// The earlier attempt of the same task this one reran.
        public var rerunOf: UInt64?
        /// The attempt whose last checkpointed tree this rerun resumed after.
        public var resumedFrom: UInt64?
        /// Messages of this attempt discarded as stale (it had been superseded).
        public var staleMessages: Int
        /// Checkpoints stored for this attempt (seconds from the origin; at most ``maxTicks``).
        public var checkpoints: [Double]
        public static let maxTicks = 200
    }

    /// A point in time on the timeline: a stage start, a worker lost or left, a resume, the job failing.
    public struct Mark: Sendable, Encodable {
        public var at: Double
        public var label: String
        /// stage, lost, left, resumed or failed.
        public var kind: String
        public var worker: String?
    }

    public struct MemorySeries: Sendable, Encodable {
        public var worker: String
        public var limit: UInt64
        /// (seconds from the origin, RSS bytes), at most ``JobStore/rssSamplesPerWorker``.
        public var samples: [Sample]
        public struct Sample: Sendable, Encodable {
            public var t: Double
            public var rss: UInt64
            /// The worker's peak RSS so far (VmHWM) as its heartbeats reported it.
            public var peak: UInt64
        }
    }

    public struct ClassCurve: Sendable, Encodable {
        public var name: String
        /// AUC (ROC) or average precision (precision–recall).
        public var area: Double?
        public var points: [CurvePoint]
        /// Precision–recall: the share of positives (the curve of a random scorer).
        public var baseline: Double?
    }

    public struct ClassCalibration: Sendable, Encodable {
        public var name: String
        public var bins: [CalibrationBin]
    }

    public struct ClassRow: Sendable, Encodable {
        public var name: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: UInt64
    }

    public struct ClassificationQuality: Sendable, Encodable {
        public var classes: [String]
        public var rows: UInt64
        public var accuracy: Double?
        public var balancedAccuracy: Double?
        public var auc: Double?
        public var logLoss: Double?
        public var confusion: [[UInt64]]
        public var perClass: [ClassRow]
        public var roc: [ClassCurve]
        public var precisionRecall: [ClassCurve]
        public var calibration: [ClassCalibration]
        /// Why curves are missing or partial, if they are.
        public var curvesNote: String?
    }

    public struct RegressionQuality: Sendable, Encodable {
        public var rows: UInt64
        public var r2: Double?
        public var rmse: Double?
        public var mae: Double?
        /// The 2-D histogram's range and bins per axis; cells are `[actualBin, predictedBin, count]`, non-empty only.
        public var lower: Double?
        public var upper: Double?
        public var gridBins: Int
        public var cells: [[UInt64]]
        public var residuals: [HistogramBar]
        /// Test rows whose actual value lies outside the training target's range.
        public var outside: UInt64
        public var note: String?
    }

    public struct Importance: Sendable, Encodable {
        public var feature: String
        public var value: Double
    }

    public struct Permutation: Sendable, Encodable {
        /// "accuracy" or "R²".
        public var metric: String
        public var baseline: Double?
        public var rows: UInt64
        public var repeats: Int
        public var values: [Importance]
        /// Where it was computed ("the test rows, in this process").
        public var computedBy: String
    }

    public var title: String
    public var generatedAt: Timestamp
    public var state: State
    public var stage: String
    public var failure: String?
    public var summary: Summary
    /// The timeline's origin (seconds since 1970) and length in seconds.
    public var origin: Timestamp
    public var duration: Double
    public var stages: [Stage] = []
    /// The peak RSS of a single-process run (`train`), which has no workers.
    public var processPeakRSS: UInt64?
    public var workers: [Worker] = []
    public var attempts: [Attempt] = []
    public var marks: [Mark] = []
    public var memory: [MemorySeries] = []
    public var classification: ClassificationQuality?
    public var regression: RegressionQuality?
    public var importances: [Importance] = []
    public var permutation: Permutation?
    /// Sections that could not be filled, with the reason (shown on the page).
    public var notes: [String: String] = [:]

    /// Seconds between refreshes of a running job's page.
    public static let refreshSeconds = 5

    /// Options common to both sources.
    public struct Options: Sendable {
        /// How each local worker's process ended, by worker id.
        public var workerExits: [String: String] = [:]
        /// Permutation importance computed by the caller, with where it was computed.
        public var permutation: (PermutationImportance, String)?
        public init() {}
    }

    /// The report as pretty-printed JSON with sorted keys (non-finite numbers as null).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension JobReport {
    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

    /// The model-quality sections of a task's merged evaluation metrics.
    static func quality(_ metrics: EvaluationMetrics, classes: [String])
        -> (classification: ClassificationQuality?, regression: RegressionQuality?)
    {
        switch metrics {
        case .classification(let m): return (classificationQuality(m, classes: classes), nil)
        case .regression(let m): return (nil, regressionQuality(m))
        }
    }

    static func classificationQuality(_ m: MetricsAggregate, classes: [String]) -> ClassificationQuality {
        let names = (0..<m.classCount).map { $0 < classes.count ? classes[$0] : "class \($0)" }
        var q = ClassificationQuality(
            classes: names, rows: m.rowCount, accuracy: finite(m.accuracy), balancedAccuracy: finite(m.balancedAccuracy),
            auc: finite(m.auc), logLoss: finite(m.logLoss), confusion: m.confusionMatrix,
            perClass: zip(names, m.perClass).map {
                ClassRow(name: $0, precision: $1.precision, recall: $1.recall, f1: $1.f1, support: $1.support)
            },
            roc: [], precisionRecall: [], calibration: [])
        // Binary: the curves of class 1 (the positive class, as the AUC); multiclass: one-vs-rest per class.
        let curved = m.classCount == 2 ? [1] : Array(0..<min(m.classCount, ReportLimits.curveClasses))
        for c in curved {
            guard let h = m.scoreHistograms(ofClass: c) else { continue }
            if let points = QualityCurves.roc(positive: h.positive, negative: h.negative) {
                q.roc.append(ClassCurve(name: names[c], area: m.auc(ofClass: c), points: points))
            }
            if let pr = QualityCurves.precisionRecall(positive: h.positive, negative: h.negative) {
                let positives = Double(h.positive.reduce(0, +))
                let all = positives + Double(h.negative.reduce(0, +))
                q.precisionRecall.append(
                    ClassCurve(
                        name: names[c], area: pr.averagePrecision, points: pr.points,
                        baseline: all > 0 ? positives / all : nil))
            }
            if curved.count <= ReportLimits.calibrationClasses {
                let bins = QualityCurves.calibration(positive: h.positive, negative: h.negative)
                if !bins.isEmpty { q.calibration.append(ClassCalibration(name: names[c], bins: bins)) }
            }
        }
        // Many classes: one calibration curve of every class's one-vs-rest scores pooled.
        if curved.count > ReportLimits.calibrationClasses {
            var positive = [UInt64](repeating: 0, count: MetricsAggregate.scoreBins)
            var negative = positive
            for c in 0..<m.classCount {
                guard let h = m.scoreHistograms(ofClass: c) else { continue }
                for b in 0..<MetricsAggregate.scoreBins {
                    positive[b] += h.positive[b]
                    negative[b] += h.negative[b]
                }
            }
            let bins = QualityCurves.calibration(positive: positive, negative: negative)
            if !bins.isEmpty { q.calibration.append(ClassCalibration(name: "all classes, one-vs-rest pooled", bins: bins)) }
        }
        if m.classCount > MetricsAggregate.maxClassesForAUC {
            q.curvesNote = "no score histograms are kept above \(MetricsAggregate.maxClassesForAUC) classes (\(m.classCount) here)"
        } else if m.classCount > ReportLimits.curveClasses {
            q.curvesNote = "curves of the first \(ReportLimits.curveClasses) of \(m.classCount) classes"
        } else if m.rowCount > 0 && q.roc.isEmpty {
            q.curvesNote = "the test rows hold a single class: no ROC curve"
        }
        return q
    }

    static func regressionQuality(_ m: RegressionMetrics) -> RegressionQuality {
        var q = RegressionQuality(
            rows: m.rowCount, r2: finite(m.r2), rmse: finite(m.rmse), mae: finite(m.mae),
            gridBins: RegressionHistograms.gridBins, cells: [], residuals: [], outside: 0)
        guard let h = m.histograms else {
            q.note = "these metrics carry no histograms (written by an older SpaceTime)"
            return q
        }
        q.lower = h.lower
        q.upper = h.upper
        let n = RegressionHistograms.gridBins
        for p in 0..<n {
            for a in 0..<n where h.grid[p * n + a] > 0 { q.cells.append([UInt64(a), UInt64(p), h.grid[p * n + a]]) }
        }
        // About two bars per √rows (10 to 60): a small test set is not cut into slivers.
        q.residuals = QualityCurves.residualBars(h, maxBars: min(60, max(10, Int(2 * Double(m.rowCount).squareRoot()))))
        q.outside = h.outside
        return q
    }

    static func permutation(_ p: PermutationImportance, names: [String], computedBy: String) -> Permutation {
        let values = p.importances
        return Permutation(
            metric: p.task == .classification ? "accuracy" : "R²", baseline: finite(p.baselineScore),
            rows: p.rowCount, repeats: p.repeats,
            values: names.indices.map { Importance(feature: names[$0], value: $0 < values.count ? values[$0] : .nan) },
            computedBy: computedBy)
    }

    static func importances(_ values: [Double], names: [String]) -> [Importance] {
        names.indices.map { Importance(feature: names[$0], value: $0 < values.count ? values[$0] : 0) }
    }

    /// The summary's parameter list from `parameters` (sorted by name) and the bins.
    static func parameterList(_ parameters: ForestParameters, task: Forest.TaskKind, maxBins: Int?) -> [KeyValue] {
        var list = ForestParametersReport(parameters, task: task).fields.map { KeyValue(key: $0.key, value: $0.value) }
        if let maxBins { list.append(KeyValue(key: "max_bins", value: String(maxBins))) }
        return list.sorted { $0.key < $1.key }
    }

    static func taskDetail(_ task: LearningTask) -> String {
        switch task {
        case .classification(let classes, let counts):
            let shown = zip(classes, counts).prefix(12).map { "\($0) (\($1))" }.joined(separator: ", ")
            return "\(classes.count) classes: \(shown)\(classes.count > 12 ? ", …" : "")"
        case .regression(let y):
            return
                "training target mean \(String(format: "%.6g", y.mean)), range [\(String(format: "%.6g", y.minimum)), \(String(format: "%.6g", y.maximum))]"
        }
    }
}

/// Bounds on what one page draws, so its size does not grow with the data.
public enum ReportLimits {
    /// One-vs-rest curves drawn for at most this many classes.
    public static let curveClasses = 10
    /// A calibration curve per class up to this many; beyond, one curve of the pooled one-vs-rest scores.
    public static let calibrationClasses = 3
    /// A confusion heat map for at most this many classes (the table of counts above).
    public static let confusionClasses = 40
    /// Features in each importance chart.
    public static let importanceFeatures = 25
}
