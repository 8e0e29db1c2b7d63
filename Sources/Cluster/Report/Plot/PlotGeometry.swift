import Foundation

/// A linear map from a data interval (the domain) to a pixel interval (the range; a
/// y axis maps the domain's low end to the range's bottom, so its range runs downwards).
/// An empty or non-finite domain is widened to a usable one, so no map divides by zero.
public struct LinearScale: Sendable, Equatable {
    public let lower: Double
    public let upper: Double
    public let start: Double
    public let end: Double

    public init(domain lower: Double, _ upper: Double, range start: Double, _ end: Double) {
        var lo = lower
        var hi = upper
        if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
        if hi < lo { swap(&lo, &hi) }
        if hi == lo {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        self.lower = lo
        self.upper = hi
        self.start = start
        self.end = end
    }

    /// The pixel position of `x` (outside the domain: extrapolated).
    public func callAsFunction(_ x: Double) -> Double {
        start + (x - lower) / (upper - lower) * (end - start)
    }

    /// The same scale with its domain widened to the nearest ticks of ``Ticks/step(lower:upper:count:)``.
    public func niced(count: Int = 5) -> LinearScale {
        let step = Ticks.step(lower: lower, upper: upper, count: count)
        return LinearScale(domain: (lower / step).rounded(.down) * step, (upper / step).rounded(.up) * step, range: start, end)
    }

    /// About `count` round tick values inside the domain.
    public func ticks(_ count: Int = 5) -> [Double] { Ticks.values(lower: lower, upper: upper, count: count) }
}

/// Round axis ticks ("nice numbers": steps of 1, 2 or 5 × 10^k) and their labels.
public enum Ticks {
    /// The step of about `count` ticks over `[lower, upper]`: 1, 2 or 5 × 10^k (1 for an empty interval).
    public static func step(lower: Double, upper: Double, count: Int) -> Double {
        let span = upper - lower
        guard span.isFinite, span > 0, count > 0 else { return 1 }
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return nice * magnitude
    }

    /// The multiples of ``step(lower:upper:count:)`` in `[lower, upper]` (ends included up to rounding).
    public static func values(lower: Double, upper: Double, count: Int) -> [Double] {
        guard lower.isFinite, upper.isFinite, upper >= lower else { return [] }
        if upper == lower { return [lower] }
        let step = step(lower: lower, upper: upper, count: count)
        let first = (lower / step - 1e-9).rounded(.up)
        let last = (upper / step + 1e-9).rounded(.down)
        guard last >= first, last - first < 1000 else { return [] }
        return stride(from: first, through: last, by: 1).map {
            let v = $0 * step
            return abs(v) < step * 1e-9 ? 0 : v
        }
    }

    /// `value` with as many decimals as `step` needs ("0.25" for step 0.05; "1.5k", "2M" from 10,000 up).
    public static func label(_ value: Double, step: Double) -> String {
        if abs(value) >= 10_000 || (abs(step) >= 10_000 && value != 0) { return compact(value) }
        let decimals = step > 0 && step < 1 ? Int((-log10(step) - 1e-9).rounded(.up)) : 0
        return String(format: "%.\(min(decimals, 6))f", value)
    }

    /// A count or large number with a k, M or G suffix (three significant digits).
    public static func compact(_ value: Double) -> String {
        let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (size, suffix) in units where abs(value) >= size {
            let v = value / size
            var text = abs(v) >= 100 ? String(format: "%.0f", v) : abs(v) >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
            if text.contains(".") {
                while text.hasSuffix("0") { text.removeLast() }
                if text.hasSuffix(".") { text.removeLast() }
            }
            return text + suffix
        }
        return abs(value) >= 100 || value == value.rounded() ? String(format: "%.0f", value) : String(format: "%.2g", value)
    }

    /// Steps a time axis uses (seconds): round seconds, then minutes, then hours.
    static let timeSteps: [Double] = [
        0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400
    ]

    /// About `count` tick times over `[0, seconds]`, on minute and hour boundaries where they apply.
    public static func timeValues(seconds: Double, count: Int) -> [Double] {
        guard seconds.isFinite, seconds > 0, count > 0 else { return [0] }
        let raw = seconds / Double(count)
        let step = timeSteps.first { $0 >= raw } ?? (raw / 86_400).rounded(.up) * 86_400
        return stride(from: 0, through: seconds + step * 1e-9, by: step).map { $0 }
    }

    /// "45 s", "1:30", "2:05:00" (h:mm:ss) for a time tick; tenths below 10 s when needed.
    public static func timeLabel(_ seconds: Double) -> String {
        if seconds < 60 {
            return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
        }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    /// Byte ticks: about `count` round values in the binary unit that suits `upper` (MiB, GiB…), with their unit.
    public static func byteValues(upper: Double, count: Int) -> (values: [Double], unit: Double, unitName: String) {
        let units: [(Double, String)] = [(1_099_511_627_776, "TiB"), (1_073_741_824, "GiB"), (1_048_576, "MiB"), (1024, "KiB")]
        let (unit, name) = units.first { upper >= $0.0 * 2 } ?? (1, "B")
        let ticks = values(lower: 0, upper: max(upper, 1) / unit, count: count).map { $0 * unit }
        return (ticks, unit, name)
    }
}

/// A plot's pixel box: the whole SVG and the inner area inside the margins.
public struct PlotFrame: Sendable, Equatable {
    public var width: Double
    public var height: Double
    public var left: Double
    public var right: Double
    public var top: Double
    public var bottom: Double

    public init(width: Double, height: Double, left: Double = 56, right: Double = 16, top: Double = 16, bottom: Double = 44) {
        self.width = width
        self.height = height
        self.left = left
        self.right = right
        self.top = top
        self.bottom = bottom
    }

    public var innerLeft: Double { left }
    public var innerRight: Double { max(left + 1, width - right) }
    public var innerTop: Double { top }
    public var innerBottom: Double { max(top + 1, height - bottom) }

    /// A scale over the inner width.
    public func xScale(_ lower: Double, _ upper: Double) -> LinearScale {
        LinearScale(domain: lower, upper, range: innerLeft, innerRight)
    }

    /// A scale over the inner height, the low end at the bottom.
    public func yScale(_ lower: Double, _ upper: Double) -> LinearScale {
        LinearScale(domain: lower, upper, range: innerBottom, innerTop)
    }
}
