import { shippedSuite } from './cases.js';

shippedSuite(7, 8);
