import PipelineModel

/// Every label the classifier can report, class labels and their parents alike, with the
/// classes each one covers: a parent's confidence is the summed probability of the classes
/// below it, so "cat" is every house-cat breed together and "animal" every animal class.
///
/// A class label that is also another class's parent is one label: its confidence covers both.
public struct LabelHierarchy: Sendable {
    /// One reportable label.
    public struct Term: Sendable, Equatable {
        public var name: String
        /// More general labels, nearest first.
        public var parents: [String]
        /// Other names it is found by (from the classes whose own label it is).
        public var aliases: [String]
        /// Category ids of the classes it covers, in the taxonomy's category order.
        public var categories: [String]
        /// Reported only at this confidence (0-100) or above.
        public var threshold: Double
        /// False when it is only the label of classes that are never reported on their own.
        public var reported: Bool
    }

    /// All labels, classes first (in class order), then the parents in the order met.
    public let terms: [Term]
    /// Per class index, the terms covering it: the class's own term and each of its parents'.
    let covering: [[Int]]
    /// Per category (taxonomy order), the classes in it.
    let categoryClasses: [[Int]]
    /// The taxonomy's categories.
    public let categories: [LabelTaxonomy.Category]
    /// Term index by ASCII-lowercased name and alias.
    private let lookup: [String: Int]

    /// Builds the hierarchy of `classNames` with each class's taxonomy entry.
    ///
    /// A term's parents are those above it in *every* chain it appears in (the taxonomy is a
    /// graph: "cup" may sit under "container" in one chain and under "drink" in another), so a
    /// parent always covers every class its child covers and is at least as confident.
    public init(classNames: [String], taxonomy: LabelTaxonomy) {
        var order: [String] = []
        var index: [String: Int] = [:]
        var chains: [[String]] = []  // per term: the parents it has everywhere, nearest first
        var aliases: [[String]] = []
        var threshold: [Double] = []
        var reported: [Bool] = []
        func meet(_ name: String, above: [String]) -> Int {
            if let known = index[name] {
                let here = Set(above)
                chains[known] = chains[known].filter(here.contains)
                return known
            }
            index[name] = order.count
            order.append(name)
            chains.append(above)
            aliases.append([])
            threshold.append(0)
            reported.append(false)
            return order.count - 1
        }
        var covering: [[Int]] = []
        var ownTerms = Set<Int>()
        for (number, className) in classNames.enumerated() {
            let entry = number < taxonomy.classes.count ? taxonomy.classes[number] : LabelTaxonomy.ClassEntry(parents: [])
            let chain = entry.parents
            let own = meet(entry.label ?? className, above: chain)
            // A label shared by several classes takes the strictest threshold and is reported when any of them is.
            threshold[own] = ownTerms.contains(own) ? max(threshold[own], entry.threshold) : entry.threshold
            reported[own] = reported[own] || entry.reported
            ownTerms.insert(own)
            for alias in entry.aliases where !aliases[own].contains(alias) { aliases[own].append(alias) }
            var cover = [own]
            for (position, parent) in chain.enumerated() {
                let covered = meet(parent, above: Array(chain[(position + 1)...]))
                if !cover.contains(covered) { cover.append(covered) }
            }
            covering.append(cover)
        }
        for term in order.indices where !ownTerms.contains(term) { reported[term] = true }

        let categoryOrder = Dictionary(uniqueKeysWithValues: taxonomy.categories.enumerated().map { ($1.id, $0) })
        var categoryClasses = Array(repeating: [Int](), count: taxonomy.categories.count)
        var termCategories = Array(repeating: Set<Int>(), count: order.count)
        for (number, cover) in covering.enumerated() where number < taxonomy.classes.count {
            for id in taxonomy.classes[number].categories {
                guard let category = categoryOrder[id] else { continue }
                categoryClasses[category].append(number)
                for term in cover { termCategories[term].insert(category) }
            }
        }
        var terms: [Term] = []
        var lookup: [String: Int] = [:]
        for (number, name) in order.enumerated() {
            terms.append(
                Term(
                    name: name, parents: chains[number], aliases: aliases[number],
                    categories: termCategories[number].sorted().map { taxonomy.categories[$0].id },
                    threshold: threshold[number], reported: reported[number]))
            for key in [name] + aliases[number] where lookup[Self.key(key)] == nil { lookup[Self.key(key)] = number }
        }
        self.terms = terms
        self.covering = covering
        self.categoryClasses = categoryClasses
        self.categories = taxonomy.categories
        self.lookup = lookup
    }

    /// The term named `name` or carrying it as an alias (ASCII case-insensitive).
    public func term(named name: String) -> Term? { lookup[Self.key(name)].map { terms[$0] } }

    /// Class probabilities below this count for nothing, neither their own label nor a parent nor
    /// a category: an unsure network spreads a little probability over every class, and 398 animal
    /// classes at 0.07% each would make "animal 28%" of a rocket. A class at 1% or more counts in full.
    public static let parentFloor: Float = 0.01

    /// Each term's confidence (0-1): the summed probability of the classes it covers that reach
    /// `parentFloor`.
    public func confidences(_ probabilities: [Float]) -> [Double] {
        var sums = [Double](repeating: 0, count: terms.count)
        for (number, cover) in covering.enumerated() where number < probabilities.count && probabilities[number] >= Self.parentFloor {
            let probability = Double(probabilities[number])
            for term in cover { sums[term] += probability }
        }
        return sums
    }

    /// The labels to report: every term whose confidence passes `minConfidence` (0-100) and its
    /// own threshold, that is reported on its own and that the filter keeps, most confident
    /// first (on a tie the more specific one, with more parents, first), at most `maxLabels`.
    /// Without a filter the set is closed upwards: a label's parents are at least as confident,
    /// so they pass too (and come first, or on a tie right after it).
    public func labels(from probabilities: [Float], options: LabelOptions) -> [RecognizedLabel] {
        let confidences = confidences(probabilities)
        var passing: [(term: Int, confidence: Double)] = []
        for (number, value) in confidences.enumerated() {
            let confidence = Self.percent(value)
            let term = terms[number]
            guard confidence > 0, confidence >= options.minConfidence, confidence >= term.threshold, term.reported else { continue }
            if keeps(term, filter: options.filter) { passing.append((number, confidence)) }
        }
        passing.sort { a, b in
            if a.confidence != b.confidence { return a.confidence > b.confidence }
            let (pa, pb) = (terms[a.term].parents.count, terms[b.term].parents.count)
            if pa != pb { return pa > pb }
            return terms[a.term].name < terms[b.term].name
        }
        return passing.prefix(max(0, options.maxLabels)).map {
            let term = terms[$0.term]
            return RecognizedLabel(
                name: term.name, confidence: $0.confidence, parents: term.parents, aliases: term.aliases, categories: term.categories)
        }
    }

    /// The image's categories: each one's confidence is the summed probability of its classes;
    /// those passing `minConfidence` and the category filter, most confident first.
    public func categories(from probabilities: [Float], options: LabelOptions) -> [LabelCategory] {
        var result: [LabelCategory] = []
        for (number, category) in categories.enumerated() {
            let sum = categoryClasses[number].reduce(0.0) { total, index in
                index < probabilities.count && probabilities[index] >= Self.parentFloor ? total + Double(probabilities[index]) : total
            }
            let confidence = Self.percent(sum)
            guard confidence > 0, confidence >= options.minConfidence else { continue }
            let filter = options.filter
            if !filter.includeCategories.isEmpty && !filter.includeCategories.contains(Self.key(category.id)) { continue }
            if filter.excludeCategories.contains(Self.key(category.id)) { continue }
            result.append(LabelCategory(id: category.id, name: category.name, confidence: confidence))
        }
        // Stable: equal confidences keep the taxonomy's order.
        return result.enumerated().sorted { a, b in
            a.element.confidence != b.element.confidence ? a.element.confidence > b.element.confidence : a.offset < b.offset
        }.map(\.element)
    }

    /// Whether the filter keeps a term: include-labels keep a term named (or aliased) so or
    /// below one so named; exclude-labels drop the same; include-categories keep a term with a
    /// class in one of them; exclude-categories drop a term all of whose classes are in them.
    func keeps(_ term: Term, filter: LabelFilter) -> Bool {
        if filter.isEmpty { return true }
        let lineage = [term.name] + term.aliases + term.parents.flatMap { parent in [parent] + (self.term(named: parent)?.aliases ?? []) }
        let names = Set(lineage.map(Self.key))
        if !filter.includeLabels.isEmpty && filter.includeLabels.isDisjoint(with: names) { return false }
        if !filter.excludeLabels.isDisjoint(with: names) { return false }
        let categories = Set(term.categories.map(Self.key))
        if !filter.includeCategories.isEmpty && filter.includeCategories.isDisjoint(with: categories) { return false }
        if !filter.excludeCategories.isEmpty && !categories.isEmpty && categories.isSubset(of: filter.excludeCategories) { return false }
        return true
    }

    /// Percent with two decimals; a sum of float probabilities may pass 100 by a rounding step.
    static func percent(_ value: Double) -> Double { min(100, (value * 100 * 100).rounded() / 100) }

    /// ASCII lowercase, as label search in the database folds.
    static func key(_ text: String) -> String { text.asciiFolded }
}

/// Which labels and categories to keep, like the cloud service's label settings. Names are
/// matched ASCII case-insensitively against labels and their aliases; categories by id.
public struct LabelFilter: Sendable, Equatable {
    public var includeLabels: Set<String>
    public var excludeLabels: Set<String>
    public var includeCategories: Set<String>
    public var excludeCategories: Set<String>

    public init(
        includeLabels: [String] = [], excludeLabels: [String] = [], includeCategories: [String] = [], excludeCategories: [String] = []
    ) {
        self.includeLabels = Set(includeLabels.map(LabelHierarchy.key))
        self.excludeLabels = Set(excludeLabels.map(LabelHierarchy.key))
        self.includeCategories = Set(includeCategories.map(LabelHierarchy.key))
        self.excludeCategories = Set(excludeCategories.map(LabelHierarchy.key))
    }

    /// Keeps everything.
    public var isEmpty: Bool { includeLabels.isEmpty && excludeLabels.isEmpty && includeCategories.isEmpty && excludeCategories.isEmpty }
}
