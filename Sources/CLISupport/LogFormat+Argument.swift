import ArgumentParser
import Presentation

extension LogFormat: ExpressibleByArgument {}

extension OutputFormat: ExpressibleByArgument {}
