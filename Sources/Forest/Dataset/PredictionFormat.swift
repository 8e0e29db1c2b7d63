import Foundation

/// The text of `spacetime predict`'s output, shared by the single-process command and
/// the distributed coordinator so both write the same bytes: a header
/// `prediction[,p_<class>…]`, then per row the predicted class (classification; with
/// probabilities, each class's probability) or the predicted value (regression). Numbers
/// are printed at the precision the model holds — leaves are `Float32`, so a prediction
/// (their average) is printed as the shortest text that reads back as the same `Float`
/// (`27.616`, not `27.615999870300293`; a vote of 3 in 100 trees is `0.03`). Fields are quoted as
/// RFC 4180 says when they hold a comma, a quote or a line break.
public struct PredictionFormat: Sendable {
    public let task: TaskKind
    /// Output fields of each class label, quoted where needed.
    public let classes: [[UInt8]]
    public let proba: Bool

    public init(task: TaskKind = .classification, classes: [String], proba: Bool) {
        self.task = task
        self.classes = classes.map { Array(Self.field($0).utf8) }
        self.proba = proba && task == .classification
    }

    public init(model: ForestModel, proba: Bool) {
        self.init(task: model.forest.task, classes: model.extractor.classes, proba: proba)
    }

    /// Values per row of the predictions this format writes.
    public var width: Int { task == .classification ? classes.count : 1 }

    /// `text` as one CSV field (RFC 4180).
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The header line, with its newline.
    public func header(classes names: [String]) -> [UInt8] {
        var header = "prediction"
        if proba { header += names.map { "," + Self.field("p_\($0)") }.joined() }
        return Array((header + "\n").utf8)
    }

    /// Appends one row's line for its predictions (``width`` values).
    @inline(__always)
    public func appendRow(_ row: UnsafeBufferPointer<Double>, to buffer: inout [UInt8]) {
        if task == .regression {
            buffer.append(contentsOf: String(Float(row[0])).utf8)
        } else {
            buffer.append(contentsOf: classes[RandomForest.argmax(row)])
            if proba {
                for c in 0..<row.count {
                    buffer.append(44)
                    buffer.append(contentsOf: String(Float(row[c])).utf8)
                }
            }
        }
        buffer.append(10)
    }

    /// Appends the lines of `rows` rows of row-major predictions.
    public func appendRows(_ predictions: UnsafeBufferPointer<Double>, rows: Int, to buffer: inout [UInt8]) {
        let C = width
        for r in 0..<rows {
            appendRow(UnsafeBufferPointer(rebasing: predictions[r * C..<(r + 1) * C]), to: &buffer)
        }
    }
}
