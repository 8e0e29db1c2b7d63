import Foundation

/// Small SVG text builders: escaping, compact numbers, elements, paths and axes.
/// Colours are CSS classes (`s0`…`s9` strokes, `f0`…`f9` fills, `axis`, `grid`, …)
/// that the page's stylesheet defines for light and dark schemes.
public enum SVG {
    /// `text` escaped for XML/HTML text and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if c.value < 0x20 && c != "\n" && c != "\t" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// A coordinate with at most two decimals and no trailing zeros ("12", "3.5", "-0.25").
    public static func num(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let r = (x * 100).rounded() / 100
        if r == r.rounded() { return String(Int(r)) }
        var s = String(format: "%.2f", r)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// `<name a="v" …>content</name>`, or self-closed without content. Attribute values are escaped.
    public static func element(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], _ content: String? = nil) -> String {
        var s = "<" + name
        for (k, v) in attributes { s += " \(k)=\"\(escape(v))\"" }
        guard let content else { return s + "/>" }
        return s + ">" + content + "</" + name + ">"
    }

    /// `<text>` at (x, y) with an anchor (start, middle, end) and classes.
    public static func text(
        _ x: Double, _ y: Double, _ content: String, anchor: String = "start", classes: String = "label",
        rotate: Double? = nil
    ) -> String {
        var attrs = "x=\"\(num(x))\" y=\"\(num(y))\" text-anchor=\"\(anchor)\" class=\"\(classes)\""
        if let rotate { attrs += " transform=\"rotate(\(num(rotate)) \(num(x)) \(num(y)))\"" }
        return "<text \(attrs)>\(escape(content))</text>"
    }

    public static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, classes: String) -> String {
        "<line x1=\"\(num(x1))\" y1=\"\(num(y1))\" x2=\"\(num(x2))\" y2=\"\(num(y2))\" class=\"\(classes)\"/>"
    }

    public static func rect(
        _ x: Double, _ y: Double, _ width: Double, _ height: Double, classes: String,
        extra: String = "", title: String? = nil
    ) -> String {
        let open =
            "<rect x=\"\(num(x))\" y=\"\(num(y))\" width=\"\(num(max(width, 0)))\" height=\"\(num(max(height, 0)))\" class=\"\(classes)\"\(extra.isEmpty ? "" : " " + extra)"
        guard let title else { return open + "/>" }
        return open + "><title>\(escape(title))</title></rect>"
    }

    /// The `d` of a polyline through `points` ("M x y L x y …"); empty for no points.
    public static func pathData(_ points: [(Double, Double)]) -> String {
        points.enumerated().map { i, p in (i == 0 ? "M" : "L") + num(p.0) + " " + num(p.1) }.joined(separator: " ")
    }

    /// The `<svg>` root with a view box (it scales to its container's width).
    public static func document(_ frame: PlotFrame, label: String, _ body: String) -> String {
        "<svg viewBox=\"0 0 \(num(frame.width)) \(num(frame.height))\" role=\"img\" aria-label=\"\(escape(label))\">\(body)</svg>"
    }

    /// An x axis along the bottom of `frame`: baseline, ticks with labels, vertical grid lines, and the axis title.
    public static func xAxis(_ frame: PlotFrame, scale: LinearScale, ticks: [Double], label: (Double) -> String, title: String) -> String {
        var s = line(frame.innerLeft, frame.innerBottom, frame.innerRight, frame.innerBottom, classes: "axis")
        for t in ticks {
            let x = scale(t)
            s += line(x, frame.innerTop, x, frame.innerBottom, classes: "grid")
            s += line(x, frame.innerBottom, x, frame.innerBottom + 4, classes: "axis")
            s += text(x, frame.innerBottom + 16, label(t), anchor: "middle", classes: "tick")
        }
        s += text((frame.innerLeft + frame.innerRight) / 2, frame.height - 6, title, anchor: "middle", classes: "title")
        return "<g class=\"x-axis\">\(s)</g>"
    }

    /// A y axis along the left of `frame`, with horizontal grid lines and a rotated title.
    public static func yAxis(_ frame: PlotFrame, scale: LinearScale, ticks: [Double], label: (Double) -> String, title: String) -> String {
        var s = line(frame.innerLeft, frame.innerTop, frame.innerLeft, frame.innerBottom, classes: "axis")
        for t in ticks {
            let y = scale(t)
            s += line(frame.innerLeft, y, frame.innerRight, y, classes: "grid")
            s += line(frame.innerLeft - 4, y, frame.innerLeft, y, classes: "axis")
            s += text(frame.innerLeft - 7, y + 4, label(t), anchor: "end", classes: "tick")
        }
        s += text(14, (frame.innerTop + frame.innerBottom) / 2, title, anchor: "middle", classes: "title", rotate: -90)
        return "<g class=\"y-axis\">\(s)</g>"
    }

    /// A message in the middle of the plot area, for a plot without data.
    public static func emptyMessage(_ frame: PlotFrame, _ message: String) -> String {
        text(
            (frame.innerLeft + frame.innerRight) / 2, (frame.innerTop + frame.innerBottom) / 2, message,
            anchor: "middle", classes: "empty")
    }
}
