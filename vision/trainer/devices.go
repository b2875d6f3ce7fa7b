package trainer

// devices is how many devices the data is spread over: a distributed dataset's count, else 1.
func (d Data) devices() int {
	if dd, ok := d.Train.(*distributedData); ok {
		return dd.n
	}
	return 1
}
