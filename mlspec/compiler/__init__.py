"""The compiler: Spec → Plan (resolve, graph, interpolate). Knows no target."""
