import ArgumentParser

extension LogFormat: ExpressibleByArgument {}
