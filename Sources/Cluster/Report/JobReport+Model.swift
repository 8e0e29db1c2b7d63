import Forest
import Foundation

extension JobReport {
    /// The report of a model file: summary, test metrics and importances (a model holds
    /// no attempts, workers or memory samples; those sections say so). `spacetime train`
    /// adds its phases as the stage table.
    public init(model: ForestModel, modelPath: String, now: Timestamp, options: Options = Options()) {
        let names = model.extractor.featureNames
        let columns = names.indices.map { f in
            Column(
                name: names[f], kind: model.extractor.kinds[f].description,
                levels: model.extractor.kinds[f] == .categorical ? model.extractor.levels[f].count : nil)
        }
        let provenance = model.provenance
        let summary = Summary(
            source: "model \(modelPath)", jobID: nil, dataFiles: provenance["source"].map { [$0] } ?? [],
            trainRows: provenance["train_rows"].flatMap { Int($0) }, testRows: provenance["test_rows"].flatMap { Int($0) },
            label: model.labelColumn, task: model.forest.task.rawValue, taskDetail: Self.taskDetail(model.extractor.task),
            columns: columns, ignoredColumns: model.schema.ignoredNames,
            parameters: Self.parameterList(model.parameters, task: model.schema.task, maxBins: nil),
            partitions: provenance["partitions"].flatMap { Int($0) }, trees: model.forest.trees.count, treesDone: nil,
            fingerprint: model.fingerprintHex, wallSeconds: nil, outcome: "done")
        self.init(
            title: "SpaceTime model \((modelPath as NSString).lastPathComponent)", generatedAt: now, state: .done,
            stage: "done", failure: nil, summary: summary, origin: now, duration: 0)
        if let metrics = model.testMetrics {
            (classification, regression) = Self.quality(metrics, classes: model.extractor.classes)
        } else {
            notes["quality"] = "the model holds no test metrics (trained without held-out rows)"
        }
        importances = Self.importances(model.forest.featureImportances, names: names)
        if let (p, by) = options.permutation { permutation = Self.permutation(p, names: names, computedBy: by) }
        let noJob =
            "a model file holds no job: use the job directory's report (spacetime report JOBDIR, or --report-html on local/coordinator)"
        notes["timeline"] = noJob
        notes["memory"] = noJob
    }

    /// The stage table of a single-process run: its phases in order (wall seconds), the
    /// rows read, and this process's peak RSS.
    public mutating func setPhases(_ phases: [(String, Double)], rows: Int?, processPeak: UInt64?) {
        var start = 0.0
        stages = phases.map { name, seconds in
            defer { start += seconds }
            return Stage(name: name, start: start, seconds: seconds, finished: true, rows: name == "read" ? rows : nil, peaks: [])
        }
        processPeakRSS = processPeak
        duration = start
        summary.wallSeconds = start
        notes["timeline"] = "spacetime train runs in one process: no workers, attempts or heartbeats (run 'spacetime local' for a timeline)"
        notes["memory"] = notes["timeline"]
    }
}
