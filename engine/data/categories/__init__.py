"""One builder per category: build(rng, builder) -> subtype string (see sdf.Builder)."""

from . import airplane, car, chair, lamp, primitives, sofa, table

BUILDERS = {
    "chair": chair.build,
    "table": table.build,
    "sofa": sofa.build,
    "lamp": lamp.build,
    "car": car.build,
    "airplane": airplane.build,
    "primitives": primitives.build,  # shapes.EXTRA_CATEGORIES: only when named
}
