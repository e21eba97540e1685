package brokendep

func F() int { return "not an int" }
