import Forest

/// The text of `spacetime predict`'s output, shared by the single-process
/// command and the distributed coordinator so both write the same bytes:
/// a header `prediction[,p_<class>…]`, then per row the predicted class and,
/// with probabilities, each class's probability as Swift prints a `Double`.
public struct PredictionFormat: Sendable {
    public let classes: [[UInt8]]
    public let proba: Bool

    public init(classes: [String], proba: Bool) {
        self.classes = classes.map { Array($0.utf8) }
        self.proba = proba
    }

    /// The header line, with its newline.
    public func header(classes names: [String]) -> [UInt8] {
        var header = "prediction"
        if proba { header += names.map { ",p_\($0)" }.joined() }
        return Array((header + "\n").utf8)
    }

    /// Appends one row's line for its class probabilities (`classes.count` values).
    @inline(__always)
    public func appendRow(_ row: UnsafeBufferPointer<Double>, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: classes[RandomForest.argmax(row)])
        if proba {
            for c in 0..<row.count {
                buffer.append(44)
                buffer.append(contentsOf: String(row[c]).utf8)
            }
        }
        buffer.append(10)
    }

    /// Appends the lines of `rows` rows of row-major probabilities.
    public func appendRows(_ probabilities: UnsafeBufferPointer<Double>, rows: Int, to buffer: inout [UInt8]) {
        let C = classes.count
        for r in 0..<rows {
            appendRow(UnsafeBufferPointer(rebasing: probabilities[r * C..<(r + 1) * C]), to: &buffer)
        }
    }
}
