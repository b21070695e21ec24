fn main() {
    println!("wschannel: serve and connect are coming");
}
