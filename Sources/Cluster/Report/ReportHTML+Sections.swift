import Foundation

extension ReportHTML {
    static let plotFrame = PlotFrame(width: 460, height: 320)

    // MARK: Timeline

    static func timelineSection(_ r: JobReport) -> String {
        guard !r.attempts.isEmpty || r.notes["timeline"] == nil else { return section("timeline", "Timeline", note(r.notes["timeline"])) }
        var workerIDs = r.workers.map(\.id)
        for a in r.attempts where !workerIDs.contains(a.worker) { workerIDs.append(a.worker) }
        let group = Dictionary(uniqueKeysWithValues: workerIDs.enumerated().map { ($1, $0) })
        let intervals = r.attempts.map { (group: group[$0.worker] ?? 0, start: $0.start, end: $0.end ?? r.duration) }
        let (rows, perGroup) = Charts.packLanes(intervals, groups: max(workerIDs.count, 1))
        var offset: [Int] = []
        var laneLabels: [String] = []
        for (g, id) in workerIDs.enumerated() {
            offset.append(laneLabels.count)
            laneLabels.append(id)
            laneLabels += Array(repeating: "", count: perGroup[g] - 1)
        }
        let byID = Dictionary(uniqueKeysWithValues: r.attempts.map { ($0.id, $0) })
        var lane: [UInt64: Int] = [:]
        var bars: [TimelineBar] = []
        for (i, a) in r.attempts.enumerated() {
            let l = offset[group[a.worker] ?? 0] + rows[i]
            lane[a.id] = l
            var attrs = ["data-attempt": String(a.id), "data-task": a.task, "data-outcome": a.outcome, "data-worker": a.worker]
            if let p = a.rerunOf { attrs["data-rerun-of"] = String(p) }
            if let p = a.resumedFrom { attrs["data-resumed-from"] = String(p) }
            var title = "\(a.task) attempt \(a.id) on \(a.worker): \(a.outcome), \(seconds(a.start))–\(a.end.map { seconds($0) } ?? "now")"
            if let first = a.firstTree, a.kind == "train" { title += ", from tree \(first)" }
            if let peak = a.peakRSS { title += ", peak RSS \(bytes(peak))" }
            if let reason = a.reason { title += " — \(reason)" }
            bars.append(
                TimelineBar(
                    lane: l, start: a.start, end: a.end ?? r.duration, classes: "k-\(a.kind) o-\(a.outcome)", text: a.task, title: title,
                    attributes: attrs, ticks: a.checkpoints, crossed: a.outcome == "failed" || a.outcome == "lost",
                    staleNote: a.staleMessages > 0
                        ? "\(a.staleMessages) message(s) of attempt \(a.id) arrived after it was superseded and were discarded" : nil))
        }
        var links: [TimelineLink] = []
        for a in r.attempts {
            guard let previous = a.rerunOf, let p = byID[previous], let to = lane[a.id] else { continue }
            let source = a.resumedFrom.flatMap { byID[$0] } ?? p
            let at = source.checkpoints.last(where: { $0 <= a.start }) ?? source.end ?? a.start
            links.append(
                TimelineLink(
                    fromLane: lane[source.id] ?? to, fromTime: min(at, a.start), toLane: to, toTime: a.start,
                    label: rerunText(a, previous: p), attributes: ["data-from": String(source.id), "data-to": String(a.id)]))
        }
        var marks = r.marks.filter { $0.worker == nil }.map { TimelineMark(at: $0.at, label: $0.kind == "stage" ? $0.label : $0.kind) }
        for m in r.marks {
            guard let w = m.worker, let g = group[w] else { continue }
            marks.append(TimelineMark(at: m.at, label: m.label, lane: offset[g], classes: m.kind))
        }
        let svg = Charts.timeline(
            laneLabels: laneLabels, bars: bars, links: links, marks: marks.sorted { $0.at < $1.at }, duration: r.duration,
            label: "task attempts per worker over time")
        let legend =
            ["extract", "train", "evaluate", "predict"].filter { k in r.attempts.contains { $0.kind == k } }
            .map { (name: $0, classes: "k-\($0)") }
            + [
                (name: "failed / lost (✕)", classes: "o-failed"), (name: "abandoned", classes: "o-abandoned"),
                (name: "running", classes: "o-running"), (name: "rerun ⇢ where it resumed", classes: "link-swatch")
            ]
        var body = figure(
            "timeline",
            caption:
                "Each bar is one attempt of a task on a worker (tick marks: checkpoints). Dashed arrows lead from the checkpoint a rerun resumed from (or the attempt it replaced) to the rerun; a red ▼ marks a worker lost, a grey one a worker that left, ◆ stale messages discarded.",
            svg: svg, legend: legend, wide: true)
        let troubled = r.attempts.filter { ["failed", "lost", "abandoned"].contains($0.outcome) || $0.staleMessages > 0 }
        if !troubled.isEmpty {
            body += "<h3>Failures and reruns</h3>\n<ul class=\"events\">"
            for a in troubled {
                let rerun = r.attempts.first { $0.rerunOf == a.id }
                body += "<li data-attempt=\"\(a.id)\" data-outcome=\"\(a.outcome)\"\(rerun.map { " data-rerun=\"\($0.id)\"" } ?? "")>"
                body += "<b>\(SVG.escape(a.task))</b> attempt \(a.id) on \(SVG.escape(a.worker)): \(SVG.escape(a.outcome))"
                if let reason = a.reason { body += " — \(SVG.escape(reason))" }
                if a.staleMessages > 0 { body += "; \(a.staleMessages) stale message(s) discarded" }
                if let rerun { body += ". \(SVG.escape(rerunText(rerun, previous: a)))" }
                body += "</li>"
            }
            body += "</ul>\n"
        }
        body += note(r.notes["timeline"])
        return section("timeline", "Timeline", body)
    }

    static func rerunText(_ a: JobReport.Attempt, previous: JobReport.Attempt) -> String {
        var s = "Rerun as attempt \(a.id) on \(a.worker) at \(seconds(a.start))"
        if let first = a.firstTree, a.kind == "train", first > 0 {
            s += ", resumed at tree \(first)" + (a.resumedFrom.map { " from the checkpoint of attempt \($0)" } ?? "")
        } else if a.kind == "train" {
            s += ", from tree 0 (no checkpoint to resume from)"
        }
        return s + " (\(a.outcome))"
    }

    // MARK: Memory

    static func memorySection(_ r: JobReport) -> String {
        guard !r.memory.isEmpty || r.notes["memory"] == nil else { return section("memory", "Memory", note(r.notes["memory"])) }
        var series: [LineSeries] = []
        for (i, m) in r.memory.enumerated() {
            series.append(LineSeries(name: "\(m.worker) RSS", style: i, points: m.samples.map { CurvePointXY($0.t, Double($0.rss)) }))
            if m.samples.contains(where: { $0.peak > $0.rss }) {
                series.append(
                    LineSeries(
                        name: "\(m.worker) peak so far", style: i, points: m.samples.map { CurvePointXY($0.t, Double($0.peak)) },
                        dotted: true))
            }
            let peaks = r.attempts.filter { $0.worker == m.worker }.compactMap { a in
                a.end.flatMap { end in
                    a.peakRSS.map {
                        CurvePointXY(end, Double($0), title: "\(a.task) attempt \(a.id) on \(m.worker): peak RSS \(bytes($0))")
                    }
                }
            }
            if !peaks.isEmpty {
                series.append(LineSeries(name: "\(m.worker) attempt peaks", style: i, points: peaks, markers: true, line: false))
            }
        }
        let limits = Set(r.memory.map(\.limit))
        for (i, m) in r.memory.enumerated() where limits.count > 1 || i == 0 {
            series.append(
                LineSeries(
                    name: limits.count > 1 ? "\(m.worker) limit" : "limit", style: limits.count > 1 ? i : 9,
                    points: [CurvePointXY(0, Double(m.limit)), CurvePointXY(max(r.duration, 1e-3), Double(m.limit))],
                    dashed: true, reference: true))
        }
        let top = max(Double(limits.max() ?? 0), series.flatMap(\.points).map(\.y).max() ?? 0) * 1.05
        let style = Dictionary(uniqueKeysWithValues: r.memory.enumerated().map { ($1.worker, $0) })
        let lost = r.marks.filter { $0.kind == "lost" }.compactMap { m in
            m.worker.flatMap { w in style[w].map { (x: m.at, label: "\(w) lost", style: $0) } }
        }
        let svg = Charts.lines(
            series, frame: PlotFrame(width: 960, height: 300, left: 70),
            x: AxisSpec("time since the job started", lower: 0, upper: max(r.duration, 1e-3), kind: .time),
            y: AxisSpec("resident memory", lower: 0, upper: max(top, 1), kind: .bytes),
            label: "worker RSS over time against the memory limit", marks: lost, empty: "no heartbeat RSS samples recorded")
        let legend = series.map {
            (
                name: $0.name,
                classes: "s\($0.style % Charts.palette)\($0.dashed ? " dashed" : "")\($0.dotted ? " dotted" : "")\($0.line ? "" : " dot")"
            )
        }
        var body = figure(
            "memory",
            caption:
                "Resident memory of each worker from its heartbeats (at most \(JobStore.rssSamplesPerWorker) samples per worker; each keeps the highest RSS of its time slice), its peak RSS so far (VmHWM, dotted: it also catches spikes between heartbeats), the peak RSS each attempt reported when it ended (circles), against the worker's memory limit (dashed).",
            svg: svg, legend: legend, wide: true)
        if !r.workers.isEmpty {
            body +=
                "<div class=\"scroll\"><table class=\"workers\"><thead><tr><th>worker</th><th>host</th><th>pid</th><th>peak RSS / limit</th><th>state</th><th>exit</th></tr></thead><tbody>"
            for w in r.workers {
                body +=
                    "<tr data-worker=\"\(SVG.escape(w.id))\" data-peak=\"\(w.peakRSS)\"><td>\(SVG.escape(w.id))</td><td>\(SVG.escape(w.host))</td><td class=\"num\">\(w.pid)</td>"
                body += meter(w.peakRSS, limit: w.limit) + "<td>\(SVG.escape(w.state))</td><td>\(SVG.escape(w.exit ?? "—"))</td></tr>"
            }
            body += "</tbody></table></div>\n"
        }
        body += note(r.notes["memory"])
        return section("memory", "Memory", body)
    }

    // MARK: Model quality

    static func qualitySection(_ r: JobReport) -> String {
        var body = ""
        if let c = r.classification { body += classificationBody(c) }
        if let g = r.regression { body += regressionBody(g) }
        body += note(r.notes["quality"])
        return section("quality", "Model quality", body)
    }

    static func classificationBody(_ c: JobReport.ClassificationQuality) -> String {
        var body = "<div class=\"plots\">\n"
        let curveLegend = { (curves: [JobReport.ClassCurve], key: String) in
            curves.enumerated().map {
                (name: "\($1.name)" + ($1.area.map { " (\(key) \(fixed($0, 3)))" } ?? ""), classes: "s\($0 % Charts.palette)")
            }
        }
        var roc = c.roc.enumerated().map { LineSeries(name: $1.name, style: $0, points: $1.points.map { CurvePointXY($0.x, $0.y) }) }
        roc.append(LineSeries(name: "random", style: 9, points: [CurvePointXY(0, 0), CurvePointXY(1, 1)], dashed: true, reference: true))
        body += figure(
            "roc",
            caption: c.roc.count == 1
                ? "ROC curve of class \(c.roc[0].name) against the rest, from the merged score histograms."
                : "ROC curves, each class against the rest, from the merged score histograms.",
            svg: Charts.lines(
                roc, frame: plotFrame, x: AxisSpec("false positive rate", lower: 0, upper: 1),
                y: AxisSpec("true positive rate", lower: 0, upper: 1), label: "ROC curve",
                empty: c.curvesNote ?? "no score histograms"),
            legend: curveLegend(c.roc, "AUC"))
        var pr = c.precisionRecall.enumerated().map {
            LineSeries(name: $1.name, style: $0, points: $1.points.map { CurvePointXY($0.x, $0.y) })
        }
        for (i, curve) in c.precisionRecall.enumerated() where c.precisionRecall.count <= ReportLimits.calibrationClasses {
            if let b = curve.baseline {
                pr.append(
                    LineSeries(
                        name: "\(curve.name) random", style: i, points: [CurvePointXY(0, b), CurvePointXY(1, b)], dashed: true,
                        reference: true))
            }
        }
        body += figure(
            "precision-recall",
            caption: "Precision against recall as the score threshold falls"
                + (c.precisionRecall.count <= ReportLimits.calibrationClasses
                    ? "; dashed: the share of positives (a random scorer)." : "."),
            svg: Charts.lines(
                pr, frame: plotFrame, x: AxisSpec("recall", lower: 0, upper: 1), y: AxisSpec("precision", lower: 0, upper: 1),
                label: "precision-recall curve", empty: c.curvesNote ?? "no score histograms"),
            legend: curveLegend(c.precisionRecall, "AP"))
        body += confusionFigure(c)
        var cal = c.calibration.enumerated().map { i, k in
            LineSeries(
                name: k.name, style: i,
                points: k.bins.map {
                    CurvePointXY(
                        $0.meanPredicted, $0.fractionPositive,
                        title:
                            "\(k.name): mean predicted \(fixed($0.meanPredicted, 3)), observed \(fixed($0.fractionPositive, 3)), \($0.rows) rows"
                    )
                }, markers: true)
        }
        cal.append(
            LineSeries(
                name: "perfectly calibrated", style: 9, points: [CurvePointXY(0, 0), CurvePointXY(1, 1)], dashed: true, reference: true))
        body += figure(
            "calibration",
            caption: "Calibration: per tenth of the predicted probability, the share of rows that are of the class"
                + (c.calibration.count == 1 && c.classes.count > ReportLimits.calibrationClasses
                    ? ", every class's scores against the rest pooled" : "") + " (points: hover for row counts).",
            svg: Charts.lines(
                cal, frame: plotFrame, x: AxisSpec("mean predicted probability", lower: 0, upper: 1),
                y: AxisSpec("fraction of positives", lower: 0, upper: 1), label: "calibration curve",
                empty: c.curvesNote ?? "no score histograms"),
            legend: c.calibration.enumerated().map { (name: $1.name, classes: "s\($0 % Charts.palette)") })
        body += "</div>\n"
        body +=
            "<h3>Per class</h3>\n<div class=\"scroll\"><table class=\"per-class\"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead><tbody>"
        for k in c.perClass {
            body +=
                "<tr data-class=\"\(SVG.escape(k.name))\" data-precision=\"\(k.precision)\" data-recall=\"\(k.recall)\" data-f1=\"\(k.f1)\" data-support=\"\(k.support)\">"
            body +=
                "<td>\(SVG.escape(k.name))</td>"
                + [k.precision, k.recall, k.f1].map {
                    "<td class=\"num\">\(fixed($0))<span class=\"meter\"><span style=\"width:\(SVG.num($0 * 100))%\"></span></span></td>"
                }.joined() + "<td class=\"num\">\(k.support)</td></tr>"
        }
        body += "</tbody></table></div>\n"
        if let n = c.curvesNote { body += note(n) }
        return body
    }

    static func confusionFigure(_ c: JobReport.ClassificationQuality) -> String {
        let n = c.classes.count
        guard n <= ReportLimits.confusionClasses else {
            return figure(
                "confusion", caption: "Confusion matrix",
                svg: Charts.matrix(
                    rows: [], columns: [], shade: { _, _ in 0 }, cellText: { _, _ in "" },
                    cellTitle: { _, _ in "" }, xTitle: "", yTitle: "", label: "confusion matrix",
                    empty: "\(n) classes: more than \(ReportLimits.confusionClasses) to draw"))
        }
        let rowTotals = c.confusion.map { $0.reduce(0, +) }
        let svg = Charts.matrix(
            rows: c.classes, columns: c.classes,
            shade: { r, k in rowTotals[r] > 0 ? Double(c.confusion[r][k]) / Double(rowTotals[r]) : 0 },
            cellText: { r, k in Ticks.compact(Double(c.confusion[r][k])) },
            cellTitle: { r, k in
                "true \(c.classes[r]), predicted \(c.classes[k]): \(c.confusion[r][k]) rows (\(fixed(rowTotals[r] > 0 ? Double(c.confusion[r][k]) / Double(rowTotals[r]) * 100 : 0, 1)) % of the class)"
            },
            xTitle: "predicted class", yTitle: "true class", label: "confusion matrix")
        // The counts, for readers and tools: the same numbers as the JSON report's confusion_matrix.
        let data = c.confusion.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";")
        return figure(
            "confusion",
            caption: "Confusion matrix: rows are the true class, columns the prediction; shade = share of the true class's rows.",
            svg: svg.replacingOccurrences(of: "<svg ", with: "<svg data-confusion=\"\(data)\" "))
    }

    static func regressionBody(_ g: JobReport.RegressionQuality) -> String {
        var body = "<div class=\"plots\">\n"
        var cells: [GridCell] = []
        if let lo = g.lower, let hi = g.upper {
            let w = (hi - lo) / Double(g.gridBins)
            cells = g.cells.map { c in
                GridCell(
                    x0: lo + Double(c[0]) * w, x1: lo + Double(c[0] + 1) * w, y0: lo + Double(c[1]) * w, y1: lo + Double(c[1] + 1) * w,
                    count: c[2])
            }
        }
        body += figure(
            "predicted-actual",
            caption:
                "Predicted against actual: a \(g.gridBins) × \(g.gridBins) histogram over the training target's range (shade: log of the row count); dashed: predicted = actual.\(g.outside > 0 ? " \(g.outside) test row(s) lie outside the range and are counted in the edge cells." : "")",
            svg: Charts.density(
                cells, frame: plotFrame, x: AxisSpec("actual", lower: g.lower, upper: g.upper),
                y: AxisSpec("predicted", lower: g.lower, upper: g.upper), label: "predicted versus actual",
                empty: g.note ?? "no test rows"))
        body += figure(
            "residuals", caption: "Residuals (actual − predicted) of the test rows.",
            svg: Charts.histogram(
                g.residuals.map { ($0.lower, $0.upper, $0.count) }, frame: plotFrame,
                x: AxisSpec("residual"), y: AxisSpec("rows"), label: "residual distribution", marker: 0,
                empty: g.note ?? "no test rows"))
        body += "</div>\n"
        return body
    }

    // MARK: Importance

    static func importanceSection(_ r: JobReport) -> String {
        var body = "<div class=\"plots\">\n"
        let top = Array(
            r.importances.enumerated().sorted { ($0.element.value, -$0.offset) > ($1.element.value, -$1.offset) }
                .prefix(ReportLimits.importanceFeatures).map(\.element))
        let items = top.map { BarItem($0.feature, $0.value) }
        let impurityNote = r.importances.count > top.count ? " (the top \(top.count) of \(r.importances.count) features)" : ""
        body += figure(
            "impurity-importance",
            caption:
                "Impurity importance: each feature's share of the trees' impurity decrease, weighted as the merged forest weighs its trees\(impurityNote).",
            svg: Charts.horizontalBars(
                items, width: 460, x: AxisSpec("share of impurity decrease"), label: "impurity importance",
                empty: r.notes["importance"] ?? "no trees"))
        if let p = r.permutation {
            let ranked = Array(
                p.values.enumerated().sorted {
                    ($0.element.value.isNaN ? -1 : $0.element.value, -$0.offset) > (
                        $1.element.value.isNaN ? -1 : $1.element.value, -$1.offset
                    )
                }
                .prefix(ReportLimits.importanceFeatures).map(\.element))
            body += figure(
                "permutation-importance",
                caption:
                    "Permutation importance on \(p.rows) test rows (\(p.computedBy)): the drop of \(p.metric) (baseline \(fixed(p.baseline))) when the feature's values are shuffled\(p.repeats > 1 ? ", mean of \(p.repeats) shuffles" : "").",
                svg: Charts.horizontalBars(
                    ranked.map { BarItem($0.feature, $0.value) }, width: 460, x: AxisSpec("drop of \(p.metric)"),
                    label: "permutation importance", style: 2))
        }
        body += "</div>\n"
        if r.permutation == nil {
            body += note(
                "Permutation importance: not computed for this report (spacetime train or evaluate with --permutation-importance computes it on the test rows)."
            )
        }
        body += note(r.notes["importance"])
        return section("importance", "Feature importance", body)
    }
}
