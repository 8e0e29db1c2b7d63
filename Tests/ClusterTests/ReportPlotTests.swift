import Forest
import Foundation
import Testing

@testable import Cluster

/// The report's plot geometry as pure functions: scales, ticks, axes, charts as SVG text
/// (no browser), with the empty and one-class cases.
@Suite struct ReportPlotTests {
    @Test func linearScalesMapTheirEndsAndSurviveDegenerateDomains() {
        let x = LinearScale(domain: 0, 10, range: 50, 450)
        #expect(x(0) == 50 && x(10) == 450 && x(5) == 250)
        let y = PlotFrame(width: 400, height: 300).yScale(0, 1)
        #expect(y(0) == 256 && y(1) == 16)  // the low end at the bottom
        for s in [
            LinearScale(domain: 3, 3, range: 0, 100), LinearScale(domain: 0, 0, range: 0, 100),
            LinearScale(domain: .nan, .infinity, range: 0, 100), LinearScale(domain: 7, 2, range: 0, 100)
        ] {
            #expect(s.upper > s.lower)
            #expect(s(s.lower).isFinite && s(s.upper).isFinite && s(s.lower) == 0 && s(s.upper) == 100)
        }
        let niced = LinearScale(domain: 0.13, 0.87, range: 0, 1).niced(count: 5)
        #expect(abs(niced.lower - 0.1) < 1e-12 && abs(niced.upper - 0.9) < 1e-12)
    }

    @Test func niceTicks() {
        #expect(Ticks.step(lower: 0, upper: 1, count: 5) == 0.2)
        #expect(Ticks.step(lower: 0, upper: 100, count: 5) == 20)
        #expect(Ticks.step(lower: 0, upper: 7, count: 5) == 1)
        #expect(Ticks.step(lower: 0, upper: 0.003, count: 3) == 0.001)
        #expect(Ticks.step(lower: 1, upper: 1, count: 5) == 1)
        let t = Ticks.values(lower: 0, upper: 1, count: 5)
        #expect(t.count == 6 && t.first == 0 && abs(t.last! - 1) < 1e-12)
        #expect(Ticks.values(lower: -0.35, upper: 0.35, count: 4) == [-0.2, 0, 0.2])
        #expect(Ticks.values(lower: 5, upper: 5, count: 5) == [5])
        #expect(Ticks.values(lower: 1, upper: 0, count: 5).isEmpty)
        #expect(Ticks.label(0.2, step: 0.2) == "0.2")
        #expect(Ticks.label(0.05, step: 0.05) == "0.05")
        #expect(Ticks.label(40, step: 20) == "40")
        #expect(Ticks.label(15_000, step: 5000) == "15k")
        #expect(Ticks.compact(2_500_000) == "2.5M" && Ticks.compact(1847) == "1.85k" && Ticks.compact(148) == "148")
        #expect(Ticks.compact(100_000) == "100k" && Ticks.compact(20_000) == "20k" && Ticks.compact(3_000_000_000) == "3G")
    }

    @Test func timeAndByteTicks() {
        #expect(Ticks.timeValues(seconds: 95, count: 5) == [0, 30, 60, 90])
        #expect(Ticks.timeValues(seconds: 3.5, count: 7) == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
        #expect(Ticks.timeValues(seconds: 0, count: 5) == [0])
        #expect(Ticks.timeLabel(90) == "1:30" && Ticks.timeLabel(45) == "45 s" && Ticks.timeLabel(2.5) == "2.5 s")
        #expect(Ticks.timeLabel(7265) == "2:01:05")
        let b = Ticks.byteValues(upper: 512 * 1_048_576, count: 5)
        #expect(b.unitName == "MiB" && b.values.first == 0 && b.values.last == 500 * 1_048_576)
        #expect(Ticks.byteValues(upper: 3 * 1_073_741_824, count: 3).unitName == "GiB")
        #expect(Ticks.byteValues(upper: 0, count: 3).unitName == "B")
    }

    @Test func axesDrawTicksLabelsAndTitles() {
        let f = PlotFrame(width: 400, height: 300)
        let x = f.xScale(0, 1)
        let svg = SVG.xAxis(f, scale: x, ticks: [0, 0.5, 1], label: { Ticks.label($0, step: 0.5) }, title: "recall")
        #expect(svg.components(separatedBy: "class=\"tick\"").count - 1 == 3)
        #expect(svg.contains(">0.5</text>") && svg.contains(">recall</text>"))
        let y = SVG.yAxis(f, scale: f.yScale(0, 10), ticks: [0, 10], label: { "\(Int($0))" }, title: "rows")
        #expect(y.contains("rotate(-90") && y.contains(">10</text>"))
    }

    @Test func escapingAndNumbers() {
        #expect(SVG.escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;")
        #expect(SVG.escape("x\u{01}y") == "x\u{FFFD}y")
        #expect(SVG.num(12) == "12" && SVG.num(3.5) == "3.5" && SVG.num(-0.254) == "-0.25" && SVG.num(.nan) == "0")
        #expect(SVG.pathData([]) == "" && SVG.pathData([(0, 0), (1.5, 2)]) == "M0 0 L1.5 2")
    }

    @Test func lineChartsWithAndWithoutData() {
        let frame = PlotFrame(width: 460, height: 320)
        let diagonal = LineSeries(name: "random", style: 9, points: [CurvePointXY(0, 0), CurvePointXY(1, 1)], dashed: true, reference: true)
        let empty = Charts.lines(
            [diagonal], frame: frame, x: AxisSpec("fpr", lower: 0, upper: 1), y: AxisSpec("tpr", lower: 0, upper: 1),
            label: "ROC", empty: "the test rows hold a single class")
        #expect(empty.contains("data-empty=\"true\"") && empty.contains("single class") && !empty.contains("class=\"data"))
        let curve = LineSeries(name: "1", style: 0, points: [CurvePointXY(0, 0), CurvePointXY(0.1, 0.8), CurvePointXY(1, 1)])
        let full = Charts.lines(
            [curve, diagonal], frame: frame, x: AxisSpec("fpr", lower: 0, upper: 1), y: AxisSpec("tpr", lower: 0, upper: 1), label: "ROC")
        #expect(!full.contains("data-empty") && full.contains("class=\"data line s0\""))
        // The curve's points land inside the plot area.
        #expect(full.contains("M56 276") && full.contains("L444 16"))
        #expect(
            Charts.lines([], frame: frame, x: AxisSpec("t", kind: .time), y: AxisSpec("b", kind: .bytes), label: "m").contains("data-empty")
        )
    }

    @Test func oneClassQualityHasNoCurvesAndSaysWhy() {
        var m = MetricsAggregate(classCount: 2)
        for p in [0.3, 0.8] { m.add(probabilities: [1 - p, p], trueClass: 0) }
        let q = JobReport.classificationQuality(m, classes: ["a", "b"])
        #expect(q.roc.isEmpty && q.curvesNote?.contains("single class") == true)
        #expect(q.precisionRecall.isEmpty)  // class b has no positives
        #expect(q.confusion == [[1, 1], [0, 0]])
    }

    @Test func manyClassesGetOneCurveEachAndOnePooledCalibration() {
        var m = MetricsAggregate(classCount: 5)
        for r in 0..<200 {
            let t = r % 5
            var p = [Double](repeating: 0.1, count: 5)
            p[t] = 0.6
            p[(t + r / 5) % 5] += 0.2
            let sum = p.reduce(0, +)
            m.add(probabilities: p.map { $0 / sum }, trueClass: t)
        }
        let q = JobReport.classificationQuality(m, classes: ["a", "b", "c", "d", "e"])
        #expect(q.roc.count == 5 && q.precisionRecall.count == 5 && q.curvesNote == nil)
        #expect(q.calibration.count == 1 && q.calibration[0].name.contains("pooled"))
        #expect(q.calibration[0].bins.reduce(0) { $0 + $1.rows } == 200 * 5)  // every row once per class
        #expect(q.roc.allSatisfy { ($0.area ?? 0) > 0.5 })
    }

    @Test func barsHistogramsAndHeatMaps() {
        let bars = Charts.horizontalBars(
            [BarItem("a", 0.5), BarItem("b", -0.1), BarItem("c", .nan)], width: 400, x: AxisSpec("drop"), label: "importance")
        #expect(bars.components(separatedBy: "class=\"data bar").count - 1 == 2)
        #expect(bars.contains(">a</text>") && bars.contains(">c</text>"))
        #expect(Charts.horizontalBars([], width: 400, x: AxisSpec("x"), label: "none").contains("data-empty"))
        let hist = Charts.histogram(
            [(-1, 0, 3), (0, 1, 0), (1, 2, 5)], frame: PlotFrame(width: 400, height: 300),
            x: AxisSpec("residual"), y: AxisSpec("rows"), label: "residuals", marker: 0)
        #expect(hist.components(separatedBy: "class=\"data bar").count - 1 == 2 && hist.contains("ref dashed"))
        #expect(
            Charts.histogram([(0, 1, 0)], frame: PlotFrame(width: 400, height: 300), x: AxisSpec("r"), y: AxisSpec("n"), label: "e")
                .contains("data-empty"))
        let heat = Charts.matrix(
            rows: ["x", "y"], columns: ["x", "y"], shade: { r, c in r == c ? 1 : 0 }, cellText: { _, _ in "7" },
            cellTitle: { r, c in "\(r),\(c)" }, xTitle: "predicted", yTitle: "true", label: "cm")
        #expect(heat.components(separatedBy: "class=\"data cell\"").count - 1 == 4 && heat.contains("fill-opacity=\"1\""))
        let density = Charts.density(
            [GridCell(x0: 0, x1: 1, y0: 0, y1: 1, count: 9), GridCell(x0: 1, x1: 2, y0: 0, y1: 1, count: 0)],
            frame: PlotFrame(width: 400, height: 300), x: AxisSpec("actual", lower: 0, upper: 2),
            y: AxisSpec("predicted", lower: 0, upper: 2), label: "d")
        #expect(density.components(separatedBy: "class=\"data cell\"").count - 1 == 1 && density.contains("ref dashed"))
    }

    @Test func lanesPackOverlappingAttempts() {
        let (rows, per) = Charts.packLanes([(0, 0, 10), (0, 5, 8), (0, 10, 12), (1, 0, 1), (0, 6, 20)], groups: 2)
        #expect(rows == [0, 1, 0, 0, 2])
        #expect(per == [3, 1])
        #expect(Charts.packLanes([], groups: 2).perGroup == [1, 1])
    }

    @Test func timelineMarksOutcomesAndLinksReruns() {
        let bars = [
            TimelineBar(
                lane: 0, start: 1, end: 4, classes: "k-train o-lost", text: "train/p0", title: "lost",
                attributes: ["data-attempt": "3"], ticks: [2, 3], crossed: true),
            TimelineBar(
                lane: 1, start: 5, end: 9, classes: "k-train o-done", text: "train/p0", title: "done",
                attributes: ["data-attempt": "5", "data-rerun-of": "3"], staleNote: "2 stale")
        ]
        let link = TimelineLink(fromLane: 0, fromTime: 3, toLane: 1, toTime: 5, label: "resumed at tree 2", attributes: ["data-to": "5"])
        let svg = Charts.timeline(
            laneLabels: ["w1", "w2"], bars: bars, links: [link],
            marks: [TimelineMark(at: 0, label: "train"), TimelineMark(at: 4, label: "w1 lost", lane: 0)],
            duration: 10, label: "timeline")
        #expect(svg.contains("data-attempt=\"3\"") && svg.contains("data-rerun-of=\"3\"") && svg.contains("class=\"cross\""))
        #expect(svg.contains("class=\"data rerun-link\" data-to=\"5\"") && svg.contains("class=\"stale\""))
        #expect(svg.components(separatedBy: "class=\"tick-mark\"").count - 1 == 2)
        #expect(svg.contains("worker-mark lost") && svg.contains(">train</text>"))
        let empty = Charts.timeline(laneLabels: [], bars: [], links: [], marks: [], duration: 0, label: "t")
        #expect(empty.contains("data-empty") && empty.contains("no attempts"))
    }
}
