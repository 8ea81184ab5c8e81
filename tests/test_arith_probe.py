from helpers import check_op, rand


def test_probe():
    a, b = rand(3, 4), rand(4, seed=1)
    check_op(lambda a, b: a * b + a / (b + 3), [a, b], lambda a, b: a * b + a / (b + 3))
    check_op(lambda a: a.T.exp(), [rand(4, 3).T], lambda a: a.T.exp())
