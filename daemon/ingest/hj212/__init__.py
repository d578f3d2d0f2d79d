"""HJ 212-2017 (data transmission standard for online monitoring of pollutants): codec and TCP listener."""
