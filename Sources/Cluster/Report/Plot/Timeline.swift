import Foundation

/// One bar of a timeline (a task attempt on a worker's row).
public struct TimelineBar: Sendable, Equatable {
    public var lane: Int
    public var start: Double
    public var end: Double
    /// CSS classes after `data attempt` (task kind and outcome).
    public var classes: String
    /// Drawn inside the bar when it fits.
    public var text: String
    /// The tooltip.
    public var title: String
    /// `data-*` attributes, e.g. ("data-attempt", "7").
    public var attributes: [String: String]
    /// Checkpoint times inside the bar.
    public var ticks: [Double]
    /// A cross at the bar's end (a failed or lost attempt).
    public var crossed: Bool
    /// A diamond after the bar: messages of the attempt were discarded as stale.
    public var staleNote: String?

    public init(
        lane: Int, start: Double, end: Double, classes: String, text: String, title: String,
        attributes: [String: String] = [:], ticks: [Double] = [], crossed: Bool = false, staleNote: String? = nil
    ) {
        self.lane = lane
        self.start = start
        self.end = end
        self.classes = classes
        self.text = text
        self.title = title
        self.attributes = attributes
        self.ticks = ticks
        self.crossed = crossed
        self.staleNote = staleNote
    }
}

/// An arrow from one bar's end to another bar's start (a rerun and what it resumed from).
public struct TimelineLink: Sendable, Equatable {
    public var fromLane: Int
    public var fromTime: Double
    public var toLane: Int
    public var toTime: Double
    public var label: String
    public var attributes: [String: String]
    public init(fromLane: Int, fromTime: Double, toLane: Int, toTime: Double, label: String, attributes: [String: String] = [:]) {
        self.fromLane = fromLane
        self.fromTime = fromTime
        self.toLane = toLane
        self.toTime = toTime
        self.label = label
        self.attributes = attributes
    }
}

/// A vertical marker: across the whole chart (`lane` nil: a stage start) or on one lane
/// (a worker lost or gone); `classes` style a lane marker (`lost`, `left`).
public struct TimelineMark: Sendable, Equatable {
    public var at: Double
    public var label: String
    public var lane: Int?
    public var classes: String
    public init(at: Double, label: String, lane: Int? = nil, classes: String = "lost") {
        self.at = at
        self.label = label
        self.lane = lane
        self.classes = classes
    }
}

extension Charts {
    /// Row of each interval within its group: the lowest row free at its start, taking
    /// intervals in start order (ties by input order); returns the rows and the rows each group needs.
    public static func packLanes(_ intervals: [(group: Int, start: Double, end: Double)], groups: Int) -> (rows: [Int], perGroup: [Int]) {
        var rowEnds = Array(repeating: [Double](), count: groups)
        var rows = Array(repeating: 0, count: intervals.count)
        let order = intervals.indices.sorted { (intervals[$0].start, $0) < (intervals[$1].start, $1) }
        for i in order {
            let iv = intervals[i]
            guard iv.group >= 0, iv.group < groups else { continue }
            if let free = rowEnds[iv.group].firstIndex(where: { $0 <= iv.start }) {
                rows[i] = free
                rowEnds[iv.group][free] = max(iv.end, iv.start)
            } else {
                rows[i] = rowEnds[iv.group].count
                rowEnds[iv.group].append(max(iv.end, iv.start))
            }
        }
        return (rows, rowEnds.map { max($0.count, 1) })
    }

    /// A timeline: one row per lane (`laneLabels`, empty for continuation rows), bars over
    /// `[0, duration]` seconds, checkpoint ticks, rerun arrows and markers.
    public static func timeline(
        laneLabels: [String], bars: [TimelineBar], links: [TimelineLink], marks: [TimelineMark],
        duration: Double, width: Double = 960, label: String, empty: String = "no attempts"
    ) -> String {
        let row = 24.0
        let lanes = max(laneLabels.count, 1)
        let longest = Double(laneLabels.map(\.count).max() ?? 2)
        let frame = PlotFrame(
            width: width, height: 36 + row * Double(lanes) + 40, left: min(max(longest * 7 + 14, 44), 160),
            right: 20, top: 36, bottom: 40)
        let xs = LinearScale(domain: 0, max(duration, 1e-3), range: frame.innerLeft, frame.innerRight)
        let ys = { (lane: Int) in frame.innerTop + Double(lane) * row }
        var body = ""
        for (i, name) in laneLabels.enumerated() {
            if i % 2 == 0 { body += SVG.rect(frame.innerLeft, ys(i), frame.innerRight - frame.innerLeft, row, classes: "band") }
            if !name.isEmpty { body += SVG.text(frame.innerLeft - 8, ys(i) + row * 0.65, name, anchor: "end", classes: "tick lane") }
        }
        let (ticks, tickLabel) = self.ticks(AxisSpec("", kind: .time), xs, count: max(2, Int((frame.innerRight - frame.innerLeft) / 90)))
        body += SVG.xAxis(frame, scale: xs, ticks: ticks, label: tickLabel, title: "time since the job started")
        var stageRow = 0
        for m in marks where m.lane == nil {
            let x = xs(m.at)
            body += SVG.line(x, frame.innerTop - 4, x, frame.innerBottom, classes: "stage-mark")
            let nearEnd = x + Double(m.label.count) * 5.5 > frame.width
            body += SVG.text(
                nearEnd ? x - 3 : x + 3, 12 + Double(stageRow % 2) * 13, m.label, anchor: nearEnd ? "end" : "start", classes: "mark-label")
            stageRow += 1
        }
        guard !bars.isEmpty else { return root(frame, label: label, empty: true, body + SVG.emptyMessage(frame, empty)) }
        for b in bars {
            let x0 = xs(b.start)
            let x1 = max(xs(b.end), x0 + 2)
            let y = ys(b.lane) + 3
            let h = row - 6
            let attrs = b.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(SVG.escape($0.value))\"" }.joined(separator: " ")
            body += "<g class=\"data attempt \(b.classes)\" \(attrs)>"
            body += SVG.rect(x0, y, x1 - x0, h, classes: "bar") + "<title>\(SVG.escape(b.title))</title>"
            for t in b.ticks where t >= b.start && t <= b.end {
                body += SVG.line(xs(t), y + h - 5, xs(t), y + h, classes: "tick-mark")
            }
            if Double(b.text.count) * 6.2 + 6 < x1 - x0 { body += SVG.text(x0 + 4, y + h - 5, b.text, classes: "bar-text") }
            if b.crossed {
                body +=
                    "<path d=\"M\(SVG.num(x1 - 5)) \(SVG.num(y - 2)) L\(SVG.num(x1 + 5)) \(SVG.num(y + h + 2)) M\(SVG.num(x1 + 5)) \(SVG.num(y - 2)) L\(SVG.num(x1 - 5)) \(SVG.num(y + h + 2))\" class=\"cross\"/>"
            }
            if let note = b.staleNote {
                let cx = x1 + 10
                let cy = y + h / 2
                body +=
                    "<path d=\"M\(SVG.num(cx)) \(SVG.num(cy - 5)) L\(SVG.num(cx + 5)) \(SVG.num(cy)) L\(SVG.num(cx)) \(SVG.num(cy + 5)) L\(SVG.num(cx - 5)) \(SVG.num(cy))Z\" class=\"stale\"><title>\(SVG.escape(note))</title></path>"
            }
            body += "</g>"
        }
        for m in marks {
            guard let lane = m.lane else { continue }
            let x = xs(m.at)
            let y = ys(lane)
            body +=
                "<g class=\"data worker-mark \(m.classes)\"><path d=\"M\(SVG.num(x)) \(SVG.num(y + 1)) L\(SVG.num(x + 6)) \(SVG.num(y - 7)) L\(SVG.num(x - 6)) \(SVG.num(y - 7))Z\"/><title>\(SVG.escape(m.label))</title></g>"
        }
        for l in links {
            let x0 = xs(l.fromTime)
            let y0 = ys(l.fromLane) + row / 2
            let x1 = xs(l.toTime)
            let y1 = ys(l.toLane) + row / 2
            let bend = max(abs(x1 - x0) * 0.4, 24)
            let attrs = l.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(SVG.escape($0.value))\"" }.joined(separator: " ")
            body += "<g class=\"data rerun-link\" \(attrs)><title>\(SVG.escape(l.label))</title>"
            body +=
                "<path d=\"M\(SVG.num(x0)) \(SVG.num(y0)) C\(SVG.num(x0 + bend)) \(SVG.num(y0)) \(SVG.num(x1 - bend)) \(SVG.num(y1)) \(SVG.num(x1)) \(SVG.num(y1))\" class=\"link\"/>"
            body +=
                "<path d=\"M\(SVG.num(x1)) \(SVG.num(y1)) L\(SVG.num(x1 - 7)) \(SVG.num(y1 - 4)) L\(SVG.num(x1 - 7)) \(SVG.num(y1 + 4))Z\" class=\"arrow\"/>"
            body += "</g>"
        }
        return root(frame, label: label, empty: false, body)
    }
}
