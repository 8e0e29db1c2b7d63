import Testing

@testable import Forest

/// The text `spacetime predict` writes for each row.
@Suite struct PredictionFormatTests {
    func line(_ format: PredictionFormat, _ values: [Double]) -> String {
        var out: [UInt8] = []
        values.withUnsafeBufferPointer { format.appendRows($0, rows: 1, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A vote of 3 in 100 trees prints as 0.03: probabilities are Σ leaf / T, printed at
    /// the leaves' (Float32) precision in the shortest form.
    @Test func probabilitiesPrintInTheShortestForm() {
        let format = PredictionFormat(task: .classification, classes: ["no", "yes"], proba: true)
        #expect(line(format, [97.0 / 100, 3.0 / 100]) == "no,0.97,0.03\n")
        #expect(line(format, [0.42000000000000004, 0.58]) == "yes,0.42,0.58\n")
        #expect(String(decoding: format.header(classes: ["no", "yes"]), as: UTF8.self) == "prediction,p_no,p_yes\n")
    }

    /// A regression value, the mean of Float32 leaves, prints without the Float-to-Double noise.
    @Test func regressionValuesPrintAtTheModelsPrecision() {
        let format = PredictionFormat(task: .regression, classes: [], proba: true)
        #expect(!format.proba && format.width == 1)
        #expect(line(format, [27.615999870300293]) == "27.616\n")
        #expect(line(format, [-1.5]) == "-1.5\n")
    }

    /// Class labels holding a comma, a quote or a line break are quoted as RFC 4180 says.
    @Test func labelsAreQuotedWhereNeeded() {
        let format = PredictionFormat(task: .classification, classes: ["a,b", "say \"hi\""], proba: true)
        #expect(line(format, [0.9, 0.1]) == "\"a,b\",0.9,0.1\n")
        #expect(line(format, [0.1, 0.9]) == "\"say \"\"hi\"\"\",0.1,0.9\n")
        #expect(String(decoding: format.header(classes: ["a,b", "c"]), as: UTF8.self) == "prediction,\"p_a,b\",p_c\n")
    }
}

/// Prediction input is matched to the model's columns by name.
@Suite struct SchemaRelocationTests {
    let schema = DatasetSchema(
        header: ["a", "b", "y"], targetIndex: 2, task: .classification,
        featureIndices: [0, 1], featureKinds: [.numeric, .categorical])

    @Test func columnsAreFoundByNameInAnyOrder() throws {
        let moved = try schema.relocated(header: ["extra", "b", "a"], file: "p.csv")
        #expect(moved.featureIndices == [2, 1] && moved.targetIndex == nil && moved.featureKinds == [.numeric, .categorical])
    }

    /// A repeated column the model reads is ambiguous: refused, naming both positions.
    @Test func aRepeatedModelColumnIsRefused() {
        #expect {
            _ = try schema.relocated(header: ["a", "b", "a"], file: "p.csv")
        } throws: { error in
            "\(error)".contains("p.csv: line 1: columns 1 and 3 are both named `a`")
        }
        // A repeated column the model does not read is fine.
        #expect(throws: Never.self) { _ = try schema.relocated(header: ["z", "a", "b", "z"], file: "p.csv") }
    }

    @Test func aMissingFeatureColumnIsNamed() {
        #expect { _ = try schema.relocated(header: ["a", "y"], file: "p.csv") } throws: { error in
            "\(error)".contains("missing feature column `b`")
        }
    }
}
