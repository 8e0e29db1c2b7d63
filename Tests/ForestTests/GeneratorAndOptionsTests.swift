import Foundation
import SpaceTime
import Testing

@testable import Forest

@Suite struct GeneratorAndOptionsTests {
    static func csv(_ c: SyntheticClassification.Configuration, rows: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        try SyntheticClassification(c).writeCSV(rows: rows) { out += $0 }
        return out
    }

    @Test func generatorIsDeterministicAndShaped() throws {
        var c = SyntheticClassification.Configuration()
        c.features = 12
        c.informative = 5
        c.redundant = 3
        c.classes = 3
        let a = try Self.csv(c, rows: 3000)
        let b = try Self.csv(c, rows: 3000)
        #expect(a == b)
        c.seed = 43
        #expect(try Self.csv(c, rows: 3000) != a)
        let lines = String(decoding: a, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 3001)
        #expect(lines[0] == "f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11,label")
        var perClass = [0, 0, 0]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",")
            #expect(fields.count == 13)
            #expect(fields.dropLast().allSatisfy { Double($0) != nil })
            perClass[Int(fields.last!)!] += 1
        }
        for n in perClass { #expect(n > 850 && n < 1150) }
        // Bad configurations are errors, not crashes.
        c.informative = 1
        c.classes = 3
        #expect(throws: ForestError.self) { try SyntheticClassification(c) }
    }

    @Test func balancedClassWeightsRaiseMinorityProbabilities() throws {
        let d = 8
        let data = try TestData.synthetic(rows: 6000, features: d, seed: 17, flipY: 0.05)
        // Keep every class-0 row and one class-1 row in eight.
        var values: [Double] = []
        var labels: [Int32] = []
        var kept1 = 0
        for r in 0..<data.labels.count {
            if data.labels[r] == 1 {
                kept1 += 1
                if kept1 % 8 != 0 { continue }
            }
            values += data.values[r * d..<(r + 1) * d]
            labels.append(data.labels[r])
        }
        let (_, p) = try TestData.binned(values: values, labels: labels, features: d)
        func meanMinorityProbability(_ weighting: ClassWeighting) throws -> Double {
            var params = ForestParameters()
            params.trees = 10
            params.minSamplesLeaf = 5
            params.classWeighting = weighting
            let forest = try TestData.forest(
                ForestTrainer(parameters: params, threads: 2).trainTrees(partition: p, partitionIndex: 0, range: 0..<10))
            let probs = forest.predictProba(binned: p)
            return stride(from: 1, to: probs.count, by: 2).reduce(0) { $0 + probs[$1] } / Double(p.rowCount)
        }
        #expect(try meanMinorityProbability(.balanced) > meanMinorityProbability(.none) + 0.02)
    }

    /// A user derivation: appends log(1 + |x0|) and x1 / x2 to the inputs.
    struct Ratios: FeatureDerivation {
        var identifier: String { "ratios-test-v1" }
        func outputNames(inputNames: [String]) -> [String] { inputNames + ["log_abs_f0", "f1_over_f2"] }
        func derive(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
            for i in 0..<input.count { output[i] = input[i] }
            output[input.count] = Foundation.log(1 + abs(input[0]))
            output[input.count + 1] = input[2] == 0 ? .nan : input[1] / input[2]
        }
    }

    @Test func featureDerivationRunsBeforeStatisticsAndIsRecorded() throws {
        let path = try PipelineTests.writeCSV(rows: 600)
        defer { unlink(path) }
        var options = TrainingOptions(trainFile: path)
        options.parameters.trees = 4
        let result = try SingleProcessTraining.run(options, derivation: Ratios())
        let e = result.model.extractor
        #expect(e.featureCount == 10)
        #expect(e.inputNames.count == 8)
        #expect(e.featureNames.suffix(2) == ["log_abs_f0", "f1_over_f2"])
        #expect(e.derivationIdentifier == "ratios-test-v1")
        #expect(e.statistics[8].minimum >= 0)  // log(1 + |x|)
        #expect(throws: ForestError.self) {
            try StreamingPrediction.run(model: result.model, path: path, readTargets: false) { _ in }
        }
    }

    /// A derivation found by name: needs input columns `f1` and `f2`.
    struct NamedRatio: FeatureDerivation {
        struct Missing: Error {}
        let identifier = "named-ratio-v1"
        let a: Int, b: Int
        init(_ names: [String]) throws {
            guard let a = names.firstIndex(of: "f1"), let b = names.firstIndex(of: "f2") else { throw Missing() }
            self.a = a
            self.b = b
        }
        func outputNames(inputNames: [String]) -> [String] { inputNames + ["f1_over_f2"] }
        func derive(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
            for i in 0..<input.count { output[i] = input[i] }
            output[input.count] = input[b] == 0 ? .nan : input[a] / input[b]
        }
    }

    @Test func registryResolvesByIdentifierAndNamesWhatIsMissing() throws {
        var registry = FeatureDerivationRegistry()
        try registry.register("named-ratio-v1") { try NamedRatio($0) }
        try registry.register(Ratios())
        #expect(registry.identifiers == ["named-ratio-v1", "ratios-test-v1"])
        #expect(try registry.derivation("named-ratio-v1", inputNames: ["f0", "f1", "f2"]).identifier == "named-ratio-v1")
        var empty = FeatureDerivationRegistry()
        #expect(throws: ForestError.self) { try empty.register("") { _ in Ratios() } }
        do {
            _ = try registry.derivation("dates-v2", inputNames: ["f1", "f2"])
            Issue.record("an unregistered derivation resolved")
        } catch {
            #expect(error.message.contains("'dates-v2' is not registered") && error.message.contains("'ratios-test-v1'"))
        }
        do {
            _ = try registry.derivation("named-ratio-v1", inputNames: ["f0", "f1"])
            Issue.record("a derivation built without its columns")
        } catch {
            #expect(error.message.contains("refuses the input columns"))
        }
        var lying = FeatureDerivationRegistry()
        try lying.register("other-name") { _ in Ratios() }
        #expect(throws: ForestError.self) { try lying.derivation("other-name", inputNames: []) }
    }

    /// Train with a factory from the registry, then predict, evaluate and transform with the derivation
    /// the registry rebuilds from the model: the predictions are the training run's; without it, refused.
    @Test func modelWithDerivationPredictsThroughTheRegistry() throws {
        let path = try PipelineTests.writeCSV(rows: 600)
        defer { unlink(path) }
        var registry = FeatureDerivationRegistry()
        try registry.register("named-ratio-v1") { try NamedRatio($0) }
        var options = TrainingOptions(trainFile: path)
        options.parameters.trees = 4
        options.testFraction = 0.5
        let known = registry
        let result = try SingleProcessTraining.run(options, derivationFactory: { try known.derivation("named-ratio-v1", inputNames: $0) })
        let model = result.model
        #expect(model.extractor.featureNames.last == "f1_over_f2" && model.extractor.derivationIdentifier == "named-ratio-v1")
        do {
            _ = try FeatureDerivationRegistry().derivation(for: model)
            Issue.record("an empty registry resolved the model's derivation")
        } catch {
            #expect(error.message.contains("'named-ratio-v1', which is not registered"))
        }
        let derivation = try #require(try registry.derivation(for: model))
        // Every scored row carries the derived feature, computed from the row's own f1 and f2.
        let reader = try CSVReader(path: path)
        let f1 = try reader.columnIndex(named: "f1")
        let f2 = try reader.columnIndex(named: "f2")
        var expected: [Double] = []
        while let record = try reader.next() { expected.append(try record.double(at: f1) / record.double(at: f2)) }
        var derived: [Double] = []
        let d = model.extractor.featureCount
        try StreamingPrediction.run(
            model: model, path: path, readTargets: false, batchRows: 64, withFeatures: true,
            derivation: derivation
        ) { batch in
            let features = batch.features!
            for r in 0..<batch.rows { derived.append(features[r * d + d - 1]) }
        }
        #expect(derived == expected)
        let metrics = try #require(try StreamingPrediction.evaluate(model: model, path: path, derivation: derivation).classification)
        #expect(metrics.accuracy > 0.6)
        #expect(throws: ForestError.self) { try DatasetTransform(model: model) }
        #expect(try DatasetTransform(model: model, derivation: derivation).derivation?.identifier == "named-ratio-v1")
    }
}
