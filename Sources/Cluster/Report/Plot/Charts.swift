import Foundation

/// How an axis labels its ticks.
public enum AxisKind: Sendable, Equatable {
    case number
    /// Seconds from the start ("45 s", "1:30").
    case time
    /// Bytes, ticked in the binary unit that suits the range.
    case bytes
}

/// An axis: its title, an optional fixed domain (else fitted to the data and rounded to ticks), and its kind.
public struct AxisSpec: Sendable, Equatable {
    public var title: String
    public var lower: Double?
    public var upper: Double?
    public var kind: AxisKind

    public init(_ title: String, lower: Double? = nil, upper: Double? = nil, kind: AxisKind = .number) {
        self.title = title
        self.lower = lower
        self.upper = upper
        self.kind = kind
    }
}

/// One line of a line chart. `style` picks the palette colour (`s0`…`s9`).
public struct LineSeries: Sendable, Equatable {
    public var name: String
    public var style: Int
    public var points: [CurvePointXY]
    public var dashed: Bool
    /// A thin dotted line (a secondary series).
    public var dotted: Bool
    public var markers: Bool
    /// False for markers only (no line through them).
    public var line: Bool
    /// A reference line (a diagonal, a limit): drawn, but not counted as data.
    public var reference: Bool

    public init(
        name: String, style: Int, points: [CurvePointXY], dashed: Bool = false, dotted: Bool = false, markers: Bool = false,
        line: Bool = true, reference: Bool = false
    ) {
        self.name = name
        self.style = style
        self.points = points
        self.dashed = dashed
        self.dotted = dotted
        self.markers = markers
        self.line = line
        self.reference = reference
    }
}

/// A plain (x, y) pair.
public struct CurvePointXY: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public var title: String?
    public init(_ x: Double, _ y: Double, title: String? = nil) {
        self.x = x
        self.y = y
        self.title = title
    }
}

/// A labelled value of a bar chart.
public struct BarItem: Sendable, Equatable {
    public var label: String
    public var value: Double
    public init(_ label: String, _ value: Double) {
        self.label = label
        self.value = value
    }
}

/// One cell of a 2-D histogram: a data rectangle and its count.
public struct GridCell: Sendable, Equatable {
    public var x0: Double, x1: Double, y0: Double, y1: Double
    public var count: UInt64
    public init(x0: Double, x1: Double, y0: Double, y1: Double, count: UInt64) {
        self.x0 = x0
        self.x1 = x1
        self.y0 = y0
        self.y1 = y1
        self.count = count
    }
}

/// Pure chart functions: data in, SVG text out (no browser, no I/O). Data marks carry
/// the class `data`; a chart without data draws its frame and a message instead, and its
/// root has `data-empty`.
public enum Charts {
    public static let palette = 10

    /// A scale for `spec` over `values` along a pixel range: the fixed domain if given, else the data's (niced).
    static func scale(_ spec: AxisSpec, values: [Double], start: Double, end: Double) -> LinearScale {
        let finite = values.filter(\.isFinite)
        let lo = spec.lower ?? finite.min() ?? 0
        let hi = spec.upper ?? finite.max() ?? 1
        let s = LinearScale(domain: lo, hi, range: start, end)
        return spec.lower != nil && spec.upper != nil || spec.kind != .number ? s : s.niced()
    }

    /// Tick values and a label function for an axis.
    static func ticks(_ spec: AxisSpec, _ scale: LinearScale, count: Int) -> ([Double], (Double) -> String) {
        switch spec.kind {
        case .number:
            let step = Ticks.step(lower: scale.lower, upper: scale.upper, count: count)
            return (scale.ticks(count), { Ticks.label($0, step: step) })
        case .time:
            return (Ticks.timeValues(seconds: scale.upper, count: count).filter { $0 >= scale.lower }, Ticks.timeLabel)
        case .bytes:
            let t = Ticks.byteValues(upper: scale.upper, count: count)
            return (t.values, { Ticks.compact($0 / t.unit) + " " + t.unitName })
        }
    }

    static func axes(_ frame: PlotFrame, x: AxisSpec, xs: LinearScale, y: AxisSpec, ys: LinearScale) -> String {
        let (xt, xl) = ticks(x, xs, count: max(2, Int((frame.innerRight - frame.innerLeft) / 70)))
        let (yt, yl) = ticks(y, ys, count: max(2, Int((frame.innerBottom - frame.innerTop) / 45)))
        return SVG.xAxis(frame, scale: xs, ticks: xt, label: xl, title: x.title)
            + SVG.yAxis(frame, scale: ys, ticks: yt, label: yl, title: y.title)
    }

    /// The chart's `<svg>`: it scales to its container, up to 1.3 × its natural width.
    static func root(_ frame: PlotFrame, label: String, empty: Bool, _ body: String) -> String {
        let svg = SVG.document(frame, label: label, body)
        let style = "<svg style=\"max-width:\(SVG.num(frame.width * 1.3))px\" "
        return svg.replacingOccurrences(of: "<svg ", with: empty ? style + "data-empty=\"true\" " : style)
    }

    /// A line chart; series flagged `reference` are drawn under the data and do not make it non-empty.
    /// `marks` are labelled vertical lines (a worker lost) in a palette colour.
    public static func lines(
        _ series: [LineSeries], frame: PlotFrame, x: AxisSpec, y: AxisSpec, label: String,
        marks: [(x: Double, label: String, style: Int)] = [], empty: String = "no data"
    ) -> String {
        let data = series.filter { !$0.reference && !$0.points.isEmpty }
        let all = series.flatMap(\.points)
        let xs = scale(x, values: all.map(\.x), start: frame.innerLeft, end: frame.innerRight)
        let ys = scale(y, values: all.map(\.y) + (y.kind == .bytes ? [0] : []), start: frame.innerBottom, end: frame.innerTop)
        var body = axes(frame, x: x, xs: xs, y: y, ys: ys)
        guard !data.isEmpty else { return root(frame, label: label, empty: true, body + SVG.emptyMessage(frame, empty)) }
        for m in marks where m.x >= xs.lower && m.x <= xs.upper {
            let px = xs(m.x)
            let right = px + Double(m.label.count) * 6 + 6 > frame.innerRight
            body += SVG.line(px, frame.innerTop, px, frame.innerBottom, classes: "ref dashed s\(m.style % palette)")
            body += SVG.text(
                right ? px - 4 : px + 4, frame.innerBottom - 6, m.label, anchor: right ? "end" : "start", classes: "mark-label")
        }
        for s in series.sorted(by: { $0.reference && !$1.reference }) where !s.points.isEmpty {
            if s.line {
                let d = SVG.pathData(s.points.map { (xs($0.x), ys($0.y)) })
                let classes =
                    (s.reference ? "ref" : "data line") + " s\(s.style % palette)" + (s.dashed ? " dashed" : "")
                    + (s.dotted ? " dotted" : "")
                body += "<path d=\"\(d)\" class=\"\(classes)\"><title>\(SVG.escape(s.name))</title></path>"
            }
            if s.markers {
                for p in s.points {
                    body +=
                        "<circle cx=\"\(SVG.num(xs(p.x)))\" cy=\"\(SVG.num(ys(p.y)))\" r=\"3.5\" class=\"data dot\(s.line ? "" : " hollow") f\(s.style % palette) s\(s.style % palette)\">"
                        + "<title>\(SVG.escape(p.title ?? "\(s.name): \(p.x), \(p.y)"))</title></circle>"
                }
            }
        }
        return root(frame, label: label, empty: false, body)
    }

    /// Horizontal bars, one per item in the order given, from zero (negative values to the left).
    public static func horizontalBars(
        _ items: [BarItem], width: Double, x: AxisSpec, label: String, style: Int = 0,
        empty: String = "no data"
    ) -> String {
        let rowHeight = 18.0
        let longest = items.map(\.label.count).max() ?? 4
        let frame = PlotFrame(
            width: width, height: 44 + 16 + rowHeight * Double(max(items.count, 3)),
            left: min(max(Double(longest) * 6.5 + 12, 60), width * 0.45), right: 24, top: 12, bottom: 44)
        let values = items.map(\.value).filter(\.isFinite)
        let xs = scale(x, values: values + [0], start: frame.innerLeft, end: frame.innerRight)
        let (xt, xl) = ticks(x, xs, count: max(2, Int((frame.innerRight - frame.innerLeft) / 70)))
        var body = SVG.xAxis(frame, scale: xs, ticks: xt, label: xl, title: x.title)
        guard !values.isEmpty else { return root(frame, label: label, empty: true, body + SVG.emptyMessage(frame, empty)) }
        let zero = xs(0)
        for (i, item) in items.enumerated() {
            let y = frame.innerTop + 6 + Double(i) * rowHeight
            body += SVG.text(frame.innerLeft - 6, y + rowHeight * 0.62, item.label, anchor: "end", classes: "tick")
            guard item.value.isFinite else { continue }
            let x = xs(item.value)
            body += SVG.rect(
                min(x, zero), y + 2, abs(x - zero), rowHeight - 5, classes: "data bar f\((item.value < 0 ? style + 3 : style) % palette)",
                extra: "data-label=\"\(SVG.escape(item.label))\" data-value=\"\(item.value)\"",
                title: "\(item.label): \(String(format: "%.4g", item.value))")
        }
        body += SVG.line(zero, frame.innerTop, zero, frame.innerBottom, classes: "axis")
        return root(frame, label: label, empty: false, body)
    }

    /// Vertical bars over `[lower, upper)` intervals (a histogram), with an optional vertical reference line at `marker`.
    public static func histogram(
        _ bars: [(lower: Double, upper: Double, count: UInt64)], frame: PlotFrame, x: AxisSpec, y: AxisSpec,
        label: String, marker: Double? = nil, style: Int = 0, empty: String = "no data"
    ) -> String {
        let xs = scale(x, values: bars.flatMap { [$0.lower, $0.upper] }, start: frame.innerLeft, end: frame.innerRight)
        let ys = scale(y, values: bars.map { Double($0.count) } + [0], start: frame.innerBottom, end: frame.innerTop)
        var body = axes(frame, x: x, xs: xs, y: y, ys: ys)
        guard bars.contains(where: { $0.count > 0 }) else {
            return root(frame, label: label, empty: true, body + SVG.emptyMessage(frame, empty))
        }
        for b in bars where b.count > 0 {
            let x0 = xs(b.lower)
            let x1 = xs(b.upper)
            let top = ys(Double(b.count))
            body += SVG.rect(
                x0 + 0.5, top, max(x1 - x0 - 1, 0.5), ys(0) - top, classes: "data bar f\(style % palette)",
                title: "[\(String(format: "%.4g", b.lower)), \(String(format: "%.4g", b.upper))): \(b.count) rows")
        }
        if let marker, marker >= xs.lower, marker <= xs.upper {
            body += SVG.line(xs(marker), frame.innerTop, xs(marker), frame.innerBottom, classes: "ref dashed s9")
        }
        return root(frame, label: label, empty: false, body)
    }

    /// A heat map of a square table (a confusion matrix): cell (r, c) shaded by `shade(r, c)` in [0, 1],
    /// with its text when the cells are large enough.
    public static func matrix(
        rows: [String], columns: [String], shade: (Int, Int) -> Double, cellText: (Int, Int) -> String,
        cellTitle: (Int, Int) -> String, xTitle: String, yTitle: String, label: String,
        empty: String = "no data"
    ) -> String {
        let n = max(rows.count, 1)
        let m = max(columns.count, 1)
        let longest = Double(max(rows.map(\.count).max() ?? 1, columns.map(\.count).max() ?? 1))
        let margin = longest > 3 ? min(max(longest * 6.5 + 16, 40), 140) : 34
        let cell = max(12, min(90, 420 / Double(max(n, m))))
        let rotated = longest > 3
        let f = PlotFrame(
            width: margin + 10 + cell * Double(m) + 16, height: 10 + cell * Double(n) + margin + 18,
            left: margin + 10, right: 16, top: 10, bottom: margin + 18)
        var body = ""
        let x0 = f.left
        let y0 = f.top
        guard !rows.isEmpty, !columns.isEmpty else { return root(f, label: label, empty: true, SVG.emptyMessage(f, empty)) }
        let showText = cell >= 26
        for r in 0..<rows.count {
            for c in 0..<columns.count {
                let v = min(max(shade(r, c), 0), 1)
                let x = x0 + Double(c) * cell
                let y = y0 + Double(r) * cell
                body += SVG.rect(
                    x, y, cell - 1, cell - 1, classes: "data cell", extra: "fill-opacity=\"\(SVG.num(0.06 + 0.94 * v))\"",
                    title: cellTitle(r, c))
                if showText {
                    body += SVG.text(
                        x + cell / 2, y + cell / 2 + 4, cellText(r, c), anchor: "middle", classes: v > 0.55 ? "cell-text dark" : "cell-text"
                    )
                }
            }
        }
        for (r, name) in rows.enumerated() {
            body += SVG.text(x0 - 6, y0 + (Double(r) + 0.5) * cell + 4, truncated(name, 20), anchor: "end", classes: "tick")
        }
        for (c, name) in columns.enumerated() {
            let x = x0 + (Double(c) + 0.5) * cell
            let y = y0 + Double(rows.count) * cell + (rotated ? 10 : 16)
            body += SVG.text(x, y, truncated(name, 20), anchor: rotated ? "end" : "middle", classes: "tick", rotate: rotated ? -45 : nil)
        }
        body += SVG.text(x0 + Double(columns.count) * cell / 2, f.height - 6, xTitle, anchor: "middle", classes: "title")
        body += SVG.text(12, y0 + Double(rows.count) * cell / 2, yTitle, anchor: "middle", classes: "title", rotate: -90)
        return root(f, label: label, empty: false, body)
    }

    /// A 2-D histogram over numeric axes: each cell shaded by log(1 + count) / log(1 + max), with the diagonal y = x.
    public static func density(
        _ cells: [GridCell], frame: PlotFrame, x: AxisSpec, y: AxisSpec, label: String,
        diagonal: Bool = true, empty: String = "no data"
    ) -> String {
        let xs = scale(x, values: cells.flatMap { [$0.x0, $0.x1] }, start: frame.innerLeft, end: frame.innerRight)
        let ys = scale(y, values: cells.flatMap { [$0.y0, $0.y1] }, start: frame.innerBottom, end: frame.innerTop)
        var body = axes(frame, x: x, xs: xs, y: y, ys: ys)
        let top = cells.map(\.count).max() ?? 0
        guard top > 0 else { return root(frame, label: label, empty: true, body + SVG.emptyMessage(frame, empty)) }
        let scaleMax = log1p(Double(top))
        for c in cells where c.count > 0 {
            let v = log1p(Double(c.count)) / scaleMax
            let left = xs(c.x0)
            let right = xs(c.x1)
            let up = ys(c.y1)
            let down = ys(c.y0)
            body += SVG.rect(
                left, up, right - left, down - up, classes: "data cell", extra: "fill-opacity=\"\(SVG.num(0.12 + 0.88 * v))\"",
                title:
                    "actual [\(String(format: "%.4g", c.x0)), \(String(format: "%.4g", c.x1))), predicted [\(String(format: "%.4g", c.y0)), \(String(format: "%.4g", c.y1))): \(c.count) rows"
            )
        }
        if diagonal {
            let lo = max(xs.lower, ys.lower)
            let hi = min(xs.upper, ys.upper)
            if hi > lo { body += SVG.line(xs(lo), ys(lo), xs(hi), ys(hi), classes: "ref dashed s9") }
        }
        return root(frame, label: label, empty: false, body)
    }

    static func truncated(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
}
