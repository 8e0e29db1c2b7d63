import Testing

@testable import Forest

/// Absurd sizes from the command line are clear errors, not allocation aborts or overflows.
@Suite struct ParameterBoundsTests {
    @Test func treeCountAboveTheFileFormatLimitIsRejected() {
        var p = ForestParameters()
        p.trees = 99_999_999_999_999
        #expect(throws: ForestError.self) { try p.validate() }
        p.trees = ForestParameters.maxTrees
        #expect(throws: Never.self) { try p.validate() }
    }

    @Test func generatorRejectsStructureThatWouldNotFitMemory() {
        var c = SyntheticClassification.Configuration()
        c.features = 99_999_999_999
        #expect(throws: ForestError.self) { try c.validate() }

        c = SyntheticClassification.Configuration()
        c.features = 6_000
        c.informative = 5_000
        #expect(throws: ForestError.self) { try c.validate() }

        c = SyntheticClassification.Configuration()
        c.classes = 1 << 40
        #expect(throws: ForestError.self) { try c.validate() }

        #expect(throws: Never.self) { try SyntheticClassification.Configuration().validate() }
    }

    @Test func regressionReportsSquaredErrorWhateverTheCriterionFlag() {
        var p = ForestParameters()
        p.criterion = .entropy
        #expect(p.criterionName(for: .regression) == "squared_error")
        #expect(p.criterionName(for: .classification) == "entropy")
        #expect(ForestParametersReport(p, task: .regression).criterion == "squared_error")
    }
}
