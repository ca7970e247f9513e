"""Test double: the DFC's parser exceptions."""


class ParsingWithRecommendationException(Exception):  # noqa: N818 - the DFC's own name
    pass


class UnsupportedModelError(Exception):
    pass


class MisspellNodeError(Exception):
    pass
